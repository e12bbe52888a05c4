/** The safetensors reader: values of every float dtype, and a clear error for every way a header can lie. */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { halfToFloat, pickleRefusal, SafetensorsFile } from './safetensors';
import { loadModel } from '../index';
import { ModelFolder } from '../folder';

let dir: string;
before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-safetensors-')); });
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A safetensors file from a header (an object, or JSON text) and a data section (no checks: tests write lying files too). */
function writeRaw(name: string, header: unknown, data: Buffer, headerLen?: number): string {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerLen ?? h.length));
  const f = path.join(dir, name);
  fs.writeFileSync(f, Buffer.concat([len, h, data]));
  return f;
}

const f32 = (v: number[]) => Buffer.from(new Float32Array(v).buffer);

describe('safetensors reader', () => {
  it('reads F32, F16, BF16 and F64 tensors as float32', () => {
    const f16 = Buffer.alloc(8);
    [0x3c00, 0xc100, 0x7bff, 0x0001].forEach((b, i) => f16.writeUInt16LE(b, 2 * i));
    const bf16 = Buffer.alloc(4);
    [0x3f80, 0xc040].forEach((b, i) => bf16.writeUInt16LE(b, 2 * i));
    const f64 = Buffer.from(new Float64Array([0.1, -7]).buffer);
    const a = f32([1.5, -2, 3.25, 0, 4, 5]);
    // an odd offset for the F32 tensor: 2 bytes of padding before it (alignment is not guaranteed by the format)
    const data = Buffer.concat([f16, Buffer.alloc(2), a, bf16, f64]);
    const file = writeRaw('values.safetensors', {
      h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] },
      a: { dtype: 'F32', shape: [2, 3], data_offsets: [10, 34] },
      b: { dtype: 'BF16', shape: [2], data_offsets: [34, 38] },
      d: { dtype: 'F64', shape: [1, 2], data_offsets: [38, 54] },
      i: { dtype: 'I64', shape: [0], data_offsets: [54, 54] },
    }, data);
    const st = SafetensorsFile.open(file, ModelFolder.of(file));
    try {
      assert.deepEqual([...st.readFloat32('a')], [1.5, -2, 3.25, 0, 4, 5]);
      assert.deepEqual([...st.readFloat32('h')], [1, -2.5, 65504, 2 ** -24]);
      assert.deepEqual([...st.readFloat32('b')], [1, -3]);
      assert.deepEqual([...st.readFloat32('d')], [Math.fround(0.1), -7]);
      assert.deepEqual(st.shape('a'), [2, 3]);
      assert.throws(() => st.readFloat32('i'), /values\.safetensors: tensor "i" has dtype I64/);
      assert.throws(() => st.readFloat32('nope'), /values\.safetensors: no tensor "nope"/);
    } finally {
      st.close();
    }
  });

  it('converts half-precision specials', () => {
    assert.equal(halfToFloat(0x7c00), Infinity);
    assert.equal(halfToFloat(0xfc00), -Infinity);
    assert.ok(Number.isNaN(halfToFloat(0x7e00)));
    assert.equal(halfToFloat(0x8000), -0);
    assert.equal(halfToFloat(0x03ff), 1023 * 2 ** -24); // largest subnormal
    assert.equal(halfToFloat(0x3555), 0.333251953125);
  });

  const lies: [string, () => string, RegExp][] = [
    ['a file shorter than the length field', () => { const f = path.join(dir, 'tiny.safetensors'); fs.writeFileSync(f, Buffer.alloc(5)); return f; }, /fewer than the 8-byte header length/],
    ['a header longer than the file', () => writeRaw('long.safetensors', { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32([1]), 10_000), /header length 10000 is longer than the \d+ bytes after it/],
    ['a header that is not JSON', () => writeRaw('nojson.safetensors', {}, Buffer.from('xxxx'), 6), /the header is not JSON/],
    ['offsets past the end of the file', () => writeRaw('past.safetensors', { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, f32([1, 2])), /tensor "a" ends at data byte 16, past the end of the file \(8 data bytes/],
    ['overlapping tensors', () => writeRaw('overlap.safetensors', {
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    }, f32([1, 2, 3])), /tensors "a" \[0, 8\) and "b" \[4, 12\) overlap/],
    ['a span that does not fit the shape', () => writeRaw('span.safetensors', { a: { dtype: 'F16', shape: [3], data_offsets: [0, 8] } }, f32([1, 2])), /tensor "a" \(F16 \[3\]\) needs 6 bytes but its data_offsets span 8/],
    ['a scalar with no bytes', () => writeRaw('scalar.safetensors', { s: { dtype: 'F32', shape: [], data_offsets: [0, 0] } }, f32([1])), /tensor "s" \(F32 \[\]\) needs 4 bytes but its data_offsets span 0/],
    ['an unknown dtype', () => writeRaw('dtype.safetensors', { a: { dtype: 'F24', shape: [1], data_offsets: [0, 3] } }, f32([1])), /tensor "a" has unknown dtype "F24"/],
    ['offsets that run backwards', () => writeRaw('back.safetensors', { a: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, f32([1, 2])), /tensor "a" ends \(0\) before it begins \(4\)/],
    ['a tensor listed twice', () => writeRaw('twice.safetensors', '{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "__metadata__": {"a": "x"}, "a" : {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}', f32([1, 2])), /tensor "a" is listed twice in the header/],
    ['a negative dimension', () => writeRaw('neg.safetensors', { a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32([1])), /tensor "a" has a bad shape \[-1\]/],
  ];
  for (const [what, make, re] of lies) {
    it(`refuses ${what}, naming the file`, () => {
      const f = make();
      assert.throws(() => SafetensorsFile.open(f, ModelFolder.of(f)), (e: Error) => {
        assert.ok(e.message.startsWith(`${f} is not a valid safetensors file: `), e.message);
        assert.match(e.message, re);
        return true;
      });
    });
  }

  it('refuses PyTorch pickles, saying why and how to convert', async () => {
    for (const name of ['pytorch_model.bin', 'model.pt', 'weights.pth']) {
      const msg = pickleRefusal(path.join(dir, name));
      assert.ok(msg && /pickle/.test(msg) && /arbitrary code/.test(msg) && /save_file/.test(msg) && /safe_serialization=True/.test(msg), String(msg));
    }
    // A .bin by its content: torch.save's zip, or a protocol-2 pickle; a TF.js weight shard is not one.
    const zip = path.join(dir, 'weights_zip.bin');
    fs.writeFileSync(zip, Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0]));
    const pkl = path.join(dir, 'weights_pkl.bin');
    fs.writeFileSync(pkl, Buffer.from([0x80, 0x02, 0x7d, 0x71]));
    const shard = path.join(dir, 'group1-shard1of1.bin');
    fs.writeFileSync(shard, f32([0.25, 1]));
    assert.ok(pickleRefusal(zip));
    assert.ok(pickleRefusal(pkl));
    assert.equal(pickleRefusal(shard), null);
    await assert.rejects(loadModel(zip), /weights_zip\.bin is a PyTorch pickle file, which is refused: unpickling can run arbitrary code/);
    // A Hugging Face folder that has only the pickle.
    const hf = path.join(dir, 'hf_pickle');
    fs.mkdirSync(hf);
    fs.writeFileSync(path.join(hf, 'config.json'), '{"model_type": "vit"}');
    fs.writeFileSync(path.join(hf, 'pytorch_model.bin'), Buffer.from([0x50, 0x4b, 0x03, 0x04]));
    await assert.rejects(loadModel(hf), /hf_pickle\/pytorch_model\.bin is a PyTorch pickle file.*model\.save_pretrained\(folder, safe_serialization=True\)/s);
  });
});
