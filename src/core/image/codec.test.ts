import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { PNG } from 'pngjs';
import { fixture } from '../testing/fixtures';
import { decodeImage, encodePng, fromUint8, readImage, toUint8 } from './codec';
import { RGBImage } from './image';

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomImage(h: number, w: number, c: number, seed: number): RGBImage {
  const r = rng(seed);
  const data = new Float32Array(h * w * c);
  for (let i = 0; i < data.length; i++) data[i] = r() * 1.4 - 0.2; // includes out-of-range values
  return { width: w, height: h, channels: c, data };
}

/** A PNG written chunk by chunk (pngjs cannot write palette images). */
function rawPng(ihdr: { w: number; h: number; depth: number; colorType: number }, rows: number[][], extra: [string, number[]][]): Buffer {
  const chunk = (type: string, body: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    const tb = Buffer.concat([Buffer.from(type, 'ascii'), body]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(tb) >>> 0);
    return Buffer.concat([len, tb, crc]);
  };
  const hdr = Buffer.alloc(13);
  hdr.writeUInt32BE(ihdr.w, 0);
  hdr.writeUInt32BE(ihdr.h, 4);
  hdr[8] = ihdr.depth;
  hdr[9] = ihdr.colorType;
  const raw = Buffer.concat(rows.map((r) => Buffer.from([0, ...r]))); // filter type 0 per row
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', hdr),
    ...extra.map(([t, b]) => chunk(t, Buffer.from(b))),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function writePng(w: number, h: number, colorType: 0 | 2 | 4 | 6, bitDepth: 8 | 16, samples: ArrayLike<number>): Buffer {
  const data = bitDepth === 16 ? Buffer.from(Uint16Array.from(samples).buffer) : Buffer.from(Uint8Array.from(samples));
  return PNG.sync.write({ width: w, height: h, data } as unknown as PNG, {
    colorType,
    inputColorType: colorType,
    inputHasAlpha: colorType === 4 || colorType === 6,
    bitDepth,
  });
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string) {
  assert.strictEqual(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

describe('image codec', () => {
  it('toUint8 rounds clamped values to the 8-bit grid', () => {
    const img: RGBImage = { width: 8, height: 1, channels: 1, data: Float32Array.of(-0.2, 0, 0.1, 0.2, 0.5, 0.999, 1, 1.5) };
    assert.deepStrictEqual(Array.from(toUint8(img)), [0, 0, 26, 51, 128, 255, 255, 255]);
  });

  it('toUint8 refuses non-finite values and names the pixel', () => {
    const img: RGBImage = { width: 2, height: 2, channels: 3, data: new Float32Array(12) };
    img.data[10] = NaN; // pixel (1, 1), channel 1
    assert.throws(() => toUint8(img), /non-finite value \(NaN\) at x=1, y=1, channel 1/);
  });

  for (const c of [1, 3]) {
    it(`encode -> decode of a ${c}-channel image gives exactly the toUint8 values`, () => {
      const img = randomImage(17, 23, c, c);
      const back = decodeImage(encodePng(img), 'memory');
      assert.deepStrictEqual([back.width, back.height, back.channels], [23, 17, c]);
      const q = toUint8(img);
      const got = back.data.map((v) => v * 255);
      for (let i = 0; i < q.length; i++) assert.strictEqual(Math.round(got[i]), q[i], `value ${i}`);
      assert.ok(Math.max(...got.map((v, i) => Math.abs(v - q[i]))) < 1e-4);
      assert.deepStrictEqual(toUint8(back), q);
      assert.deepStrictEqual(toUint8(fromUint8(q, 17, 23, c)), q);
    });
  }

  it('encodePng writes grayscale for 1 channel and is deterministic', () => {
    const img = randomImage(31, 29, 1, 7);
    const a = encodePng(img);
    const b = encodePng({ ...img, data: img.data.slice() });
    assert.ok(a.equals(b), 'same bytes twice');
    const meta = PNG.sync.read(a) as unknown as { colorType: number; depth: number };
    assert.strictEqual(meta.colorType, 0);
    assert.strictEqual(meta.depth, 8);
    assert.strictEqual((PNG.sync.read(encodePng(randomImage(3, 3, 3, 1))) as unknown as { colorType: number }).colorType, 2);
  });

  it('reads 8-bit gray PNGs as one channel', () => {
    const img = decodeImage(writePng(3, 2, 0, 8, [0, 1, 127, 128, 254, 255]), 'gray8');
    assert.strictEqual(img.channels, 1);
    assertClose(img.data, [0, 1, 127, 128, 254, 255].map((v) => v / 255), 1e-7, 'gray8');
  });

  it('reads 16-bit gray and RGB PNGs at full precision', () => {
    const g = [0, 1, 1000, 40000, 65534, 65535];
    const gray = decodeImage(writePng(3, 2, 0, 16, g), 'gray16');
    assert.strictEqual(gray.channels, 1);
    assertClose(gray.data, g.map((v) => v / 65535), 1e-7, 'gray16');
    const rgb = [0, 300, 65535, 12345, 54321, 777];
    const col = decodeImage(writePng(2, 1, 2, 16, rgb), 'rgb16');
    assert.strictEqual(col.channels, 3);
    assertClose(col.data, rgb.map((v) => v / 65535), 1e-7, 'rgb16');
  });

  it('composites RGBA and gray+alpha PNGs on white', () => {
    const rgba = [255, 0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 128, 40, 80, 120, 51];
    const img = decodeImage(writePng(4, 1, 6, 8, rgba), 'rgba');
    assert.strictEqual(img.channels, 3);
    const want: number[] = [];
    for (let p = 0; p < 4; p++) {
      const a = rgba[4 * p + 3] / 255;
      for (let k = 0; k < 3; k++) want.push((rgba[4 * p + k] / 255) * a + 1 - a);
    }
    assertClose(img.data, want, 1e-6, 'rgba');
    const ga = decodeImage(writePng(2, 1, 4, 8, [0, 255, 0, 0]), 'graya');
    assert.strictEqual(ga.channels, 1);
    assertClose(ga.data, [0, 1], 1e-7, 'gray+alpha');
  });

  it('reads 8-bit and 4-bit palette PNGs, with tRNS transparency on white', () => {
    const plte = [10, 20, 30, 200, 100, 0, 0, 0, 255];
    const trns: [string, number[]] = ['tRNS', [255, 255, 0]]; // entry 2 fully transparent
    const p8 = decodeImage(rawPng({ w: 3, h: 1, depth: 8, colorType: 3 }, [[0, 1, 2]], [['PLTE', plte], trns]), 'pal8');
    assert.strictEqual(p8.channels, 3);
    assertClose(p8.data, [10, 20, 30, 200, 100, 0, 255, 255, 255].map((v) => v / 255), 1e-7, 'pal8');
    // 4-bit indices packed two per byte: row [1, 0, 2] -> 0x10, 0x20.
    const p4 = decodeImage(rawPng({ w: 3, h: 1, depth: 4, colorType: 3 }, [[0x10, 0x20]], [['PLTE', plte]]), 'pal4');
    assertClose(p4.data, [200, 100, 0, 10, 20, 30, 0, 0, 255].map((v) => v / 255), 1e-7, 'pal4');
  });

  // Reference means from PIL 9.4 (libjpeg-turbo for JPEG; RGBA alpha-composited on white), whole image.
  const photos: [string, number, number, number[], number][] = [
    ['china.jpg', 640, 427, [0.56753, 0.57047, 0.55262], 0.004],
    ['rocket.jpg', 640, 427, [0.20496, 0.24037, 0.32263], 0.004],
    ['chelsea.png', 451, 300, [0.57911, 0.43704, 0.34038], 1e-5],
    ['coral_bird.png', 512, 343, [0.35524, 0.38513, 0.23625], 1e-5],
  ];
  for (const [name, w, h, mean, tol] of photos) {
    it(`reads the photo ${name} (${w}x${h}) with PIL's channel means`, () => {
      const img = readImage(fixture('images', name));
      assert.deepStrictEqual([img.width, img.height, img.channels], [w, h, 3]);
      const sums = [0, 0, 0];
      for (let i = 0; i < img.data.length; i++) sums[i % 3] += img.data[i];
      assertClose(sums.map((s) => s / (w * h)), mean, tol, `${name} mean`);
      assert.ok(img.data.every((v) => v >= 0 && v <= 1));
    });
  }

  describe('errors name the file', () => {
    let dir: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-image-'));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('missing file', () => {
      const f = path.join(dir, 'nope.png');
      assert.throws(() => readImage(f), (e: Error) => e.message === `image file not found: ${f}`);
    });
    it('a directory', () => {
      assert.throws(() => readImage(dir), (e: Error) => e.message.includes(dir) && /directory/.test(e.message));
    });
    it('empty and unsupported files', () => {
      const empty = path.join(dir, 'empty.png');
      fs.writeFileSync(empty, '');
      assert.throws(() => readImage(empty), (e: Error) => e.message === `image file is empty: ${empty}`);
      const gif = path.join(dir, 'pic.gif');
      fs.writeFileSync(gif, 'GIF89a....');
      assert.throws(() => readImage(gif), (e: Error) => e.message.includes(gif) && /unsupported image format.*47 49 46 38/.test(e.message));
    });
    it('truncated PNG and JPEG', () => {
      const png = path.join(dir, 'cut.png');
      fs.writeFileSync(png, fs.readFileSync(fixture('images', 'chelsea.png')).subarray(0, 5000));
      assert.throws(() => readImage(png), (e: Error) => e.message.startsWith(`cannot decode PNG ${png}:`));
      const jpg = path.join(dir, 'cut.jpg');
      fs.writeFileSync(jpg, fs.readFileSync(fixture('images', 'china.jpg')).subarray(0, 300));
      assert.throws(() => readImage(jpg), (e: Error) => e.message.startsWith(`cannot decode JPEG ${jpg}:`));
    });
    it('a PNG whose header claims a huge size is refused before decoding', () => {
      const f = path.join(dir, 'huge.png');
      fs.writeFileSync(f, rawPng({ w: 100000, h: 100000, depth: 8, colorType: 0 }, [[0]], []));
      assert.throws(() => readImage(f), (e: Error) => e.message.includes(f) && /too large: 100000x100000/.test(e.message));
    });
    it('a PNG with a side over the limit is refused even when its pixel count is allowed', () => {
      const f = path.join(dir, 'strip.png');
      fs.writeFileSync(f, rawPng({ w: 64000000, h: 1, depth: 8, colorType: 0 }, [[0]], []));
      assert.throws(() => readImage(f), { message: `image ${f} is too large: 64000000x1 has a side over 16384 pixels` });
    });
  });
});
