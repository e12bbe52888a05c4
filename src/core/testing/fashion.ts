// Fashion-MNIST test images (Debian's dataset-fashion-mnist) written as PNG files, for tests and measurements
// that need a real image folder.
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { encodePng } from '../image/codec';

export const FASHION_TEST_IMAGES = '/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz';

/**
 * Writes the first `count` test images as 28x28 gray PNGs under `dir`, `per` to a subfolder (`000/00000.png`,
 * ...), and returns their paths relative to `dir`.
 */
export function writeFashionPngs(dir: string, count: number, per = 100): string[] {
  if (!fs.existsSync(FASHION_TEST_IMAGES)) throw new Error(`${FASHION_TEST_IMAGES} not found: install Debian's dataset-fashion-mnist`);
  const raw = zlib.gunzipSync(fs.readFileSync(FASHION_TEST_IMAGES));
  const n = raw.readUInt32BE(4);
  const [h, w] = [raw.readUInt32BE(8), raw.readUInt32BE(12)];
  if (raw.readUInt32BE(0) !== 2051 || count > n) throw new Error(`${FASHION_TEST_IMAGES}: not an idx3 file of at least ${count} images`);
  const rels: string[] = [];
  for (let i = 0; i < count; i++) {
    const data = new Float32Array(h * w);
    for (let p = 0; p < h * w; p++) data[p] = raw[16 + i * h * w + p] / 255;
    const rel = `${String(Math.floor(i / per)).padStart(3, '0')}/${String(i).padStart(5, '0')}.png`;
    fs.mkdirSync(path.join(dir, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), encodePng({ width: w, height: h, channels: 1, data }));
    rels.push(rel);
  }
  return rels;
}
