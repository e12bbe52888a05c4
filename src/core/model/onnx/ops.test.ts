/**
 * Small ONNX graphs written by the test (protobufjs encoder): ops and attribute variants the PyTorch fixtures do
 * not exercise, against float64 JS references; and the loader's error paths.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../backend';
import { fixture } from '../../testing/fixtures';
import { loadModel } from '../index';
import { FLOAT, floatInit, int, intInit, ints, node, rand, writeModel } from './test_graphs';

/** float64 NCHW grouped convolution with pads [t,l,b,r], strides, dilations. */
function convRef(x: number[], xs: number[], w: number[], ws: number[], bias: number[], group: number,
  pads: number[], strides: number[], dil: number[]): { y: number[]; shape: number[] } {
  const [n, c, h, wd] = xs;
  const [m, cg, kh, kw] = ws;
  const oh = Math.floor((h + pads[0] + pads[2] - ((kh - 1) * dil[0] + 1)) / strides[0]) + 1;
  const ow = Math.floor((wd + pads[1] + pads[3] - ((kw - 1) * dil[1] + 1)) / strides[1]) + 1;
  const y: number[] = [];
  for (let b = 0; b < n; b++) for (let o = 0; o < m; o++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
    const g = Math.floor(o / (m / group));
    let s = bias[o];
    for (let ci = 0; ci < cg; ci++) for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
      const yy = i * strides[0] - pads[0] + u * dil[0];
      const xx = j * strides[1] - pads[1] + v * dil[1];
      if (yy < 0 || xx < 0 || yy >= h || xx >= wd) continue;
      s += x[((b * c + g * cg + ci) * h + yy) * wd + xx] * w[((o * cg + ci) * kh + u) * kw + v];
    }
    y.push(s);
  }
  return { y, shape: [n, m, oh, ow] };
}

/** float64 NCHW pooling (PyTorch semantics: ceil mode windows must start inside the padded-left input). */
function poolRef(x: number[], xs: number[], k: number[], strides: number[], pads: number[], kind: 'max' | 'avg',
  ceil: boolean, includePad: boolean): { y: number[]; shape: number[] } {
  const [n, c, h, w] = xs;
  const outDim = (inp: number, p0: number, p1: number, kk: number, s: number) => {
    let o = (ceil ? Math.ceil : Math.floor)((inp + p0 + p1 - kk) / s) + 1;
    if (ceil && (o - 1) * s >= inp + p0) o--;
    return o;
  };
  const oh = outDim(h, pads[0], pads[2], k[0], strides[0]);
  const ow = outDim(w, pads[1], pads[3], k[1], strides[1]);
  const y: number[] = [];
  for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
    let acc = kind === 'max' ? -Infinity : 0;
    let cnt = 0;
    for (let u = 0; u < k[0]; u++) for (let v = 0; v < k[1]; v++) {
      const yy = i * strides[0] - pads[0] + u;
      const xx = j * strides[1] - pads[1] + v;
      const inPad = yy >= -pads[0] && xx >= -pads[1] && yy < h + pads[2] && xx < w + pads[3];
      if (yy < 0 || xx < 0 || yy >= h || xx >= w) {
        if (includePad && inPad) cnt++;
        continue;
      }
      const val = x[((b * c + ch) * h + yy) * w + xx];
      acc = kind === 'max' ? Math.max(acc, val) : acc + val;
      cnt++;
    }
    y.push(kind === 'max' ? acc : acc / cnt);
  }
  return { y, shape: [n, c, oh, ow] };
}

function maxRelErr(a: ArrayLike<number>, ref: number[]): number {
  assert.equal(a.length, ref.length, 'length');
  let d = 0, m = 0;
  for (let i = 0; i < ref.length; i++) {
    d = Math.max(d, Math.abs(a[i] - ref[i]));
    m = Math.max(m, Math.abs(ref[i]));
  }
  return d / m;
}

/** Runs a tap on an NCHW input and returns the NCHW result (taps are channels-last). */
function tapNCHW(m: Awaited<ReturnType<typeof loadModel>>, name: string, x: number[], xs: number[]): Float32Array {
  return tf.tidy(() => {
    const xt = tf.transpose(tf.tensor4d(x, xs as [number, number, number, number]), [0, 2, 3, 1]) as tf.Tensor4D;
    const y = m.tap([name], xt)[0];
    return y.rank === 4 ? tf.transpose(y, [0, 3, 1, 2]) : y;
  }).dataSync() as Float32Array;
}

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-onnx-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`ONNX ops against float64 references (${backend})`, () => {
    before(async () => {
      await initBackend(backend);
    });

    it('Conv: grouped, depthwise x2 multiplier, asymmetric pads, strides, dilations; pooling variants', async () => {
      const xs = [2, 4, 9, 8];
      const x = rand(2 * 4 * 9 * 8, 1);
      const convs = [
        { name: 'grouped', ws: [6, 2, 3, 2], group: 2, pads: [0, 1, 2, 1], strides: [2, 1], dil: [1, 2] },
        { name: 'depthwise', ws: [8, 1, 3, 3], group: 4, pads: [1, 1, 1, 1], strides: [2, 2], dil: [1, 1] },
        { name: 'dense', ws: [3, 4, 1, 3], group: 1, pads: [0, 2, 0, 0], strides: [1, 3], dil: [1, 1] },
        { name: 'dwdilated', ws: [4, 1, 3, 3], group: 4, pads: [2, 2, 2, 2], strides: [1, 1], dil: [2, 2] },
      ];
      const pools = [
        { name: 'maxceil', op: 'MaxPool', k: [3, 3], strides: [2, 2], pads: [1, 0, 1, 0], ceil: true, includePad: false },
        { name: 'maxasym', op: 'MaxPool', k: [2, 3], strides: [1, 2], pads: [0, 1, 1, 2], ceil: false, includePad: false },
        { name: 'avgpad', op: 'AveragePool', k: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil: false, includePad: true },
        { name: 'avgnopad', op: 'AveragePool', k: [3, 2], strides: [2, 1], pads: [1, 0, 1, 0], ceil: false, includePad: false },
        { name: 'avgceilpad', op: 'AveragePool', k: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil: true, includePad: true },
        { name: 'avgceil', op: 'AveragePool', k: [2, 3], strides: [2, 2], pads: [0, 1, 0, 1], ceil: true, includePad: false },
      ];
      const nodes: object[] = [];
      const inits: object[] = [];
      const refs = new Map<string, number[]>();
      convs.forEach((c, i) => {
        const w = rand(c.ws.reduce((a, b) => a * b), 10 + i);
        const b = rand(c.ws[0], 20 + i);
        inits.push(floatInit(`${c.name}.w`, c.ws, w), floatInit(`${c.name}.b`, [c.ws[0]], b));
        nodes.push(node('Conv', ['input', `${c.name}.w`, `${c.name}.b`], [c.name], [
          int('group', c.group), ints('pads', c.pads), ints('strides', c.strides), ints('dilations', c.dil),
          ints('kernel_shape', c.ws.slice(2))]));
        refs.set(c.name, convRef(x, xs, w, c.ws, b, c.group, c.pads, c.strides, c.dil).y);
      });
      for (const p of pools) {
        nodes.push(node(p.op, ['input'], [p.name], [ints('kernel_shape', p.k), ints('strides', p.strides), ints('pads', p.pads),
          int('ceil_mode', p.ceil ? 1 : 0), ...(p.op === 'AveragePool' ? [int('count_include_pad', p.includePad ? 1 : 0)] : [])]));
        refs.set(p.name, poolRef(x, xs, p.k, p.strides, p.pads, p.op === 'MaxPool' ? 'max' : 'avg', p.ceil, p.includePad).y);
      }
      const f = writeModel(dir, `convpool_${backend}.onnx`, nodes, inits, xs.slice(1), [...refs.keys()]);
      const m = await loadModel(f);
      try {
        for (const [name, ref] of refs) {
          const e = maxRelErr(tapNCHW(m, name, x, xs), ref);
          assert.ok(e < 1e-5, `${name}: max rel ${e}`);
        }
      } finally {
        m.dispose();
      }
    });

    it('BatchNormalization, Softmax on axis 1, Split, strided Slice, Transpose/Concat/ReduceMean of NHWC tensors, Gemm', async () => {
      const xs = [1, 3, 4, 5];
      const x = rand(60, 3);
      const [scale, bias, mean] = [rand(3, 4), rand(3, 5), rand(3, 6)];
      const vr = rand(3, 7).map((v) => v + 1);
      const gw = rand(60 * 7, 8);
      const nodes = [
        node('BatchNormalization', ['input', 'bn.s', 'bn.b', 'bn.m', 'bn.v'], ['bn'], [{ name: 'epsilon', type: 1, f: 1e-3 }]),
        node('Softmax', ['bn'], ['sm'], [int('axis', 1)]),
        node('Split', ['input', 'split'], ['sp0', 'sp1'], [int('axis', 3)]),
        node('Slice', ['input', 'st', 'en', 'ax', 'steps'], ['sl']),
        node('Transpose', ['bn'], ['tr'], [ints('perm', [0, 3, 2, 1])]),
        node('Flatten', ['input'], ['fl']),
        node('Gemm', ['fl', 'gw'], ['gemm'], [int('transB', 1)]),
        node('Concat', ['input', 'bn'], ['cat'], [int('axis', 1)]),
        node('ReduceMean', ['bn'], ['rm'], [ints('axes', [1, 3])]),
      ];
      const inits = [floatInit('bn.s', [3], scale), floatInit('bn.b', [3], bias), floatInit('bn.m', [3], mean), floatInit('bn.v', [3], vr),
        intInit('split', [2, 3]), intInit('st', [-1, 0]), intInit('en', [-100, 100]), intInit('ax', [2, 3]), intInit('steps', [-2, 2]),
        floatInit('gw', [7, 60], gw)];
      const f = writeModel(dir, `misc_${backend}.onnx`, nodes, inits, xs.slice(1), ['sm', 'sp1', 'sl', 'tr', 'gemm', 'cat', 'rm']);
      const m = await loadModel(f);
      const at = (c: number, h: number, w: number) => x[(c * 4 + h) * 5 + w];
      const bn = (c: number, h: number, w: number) => (at(c, h, w) - mean[c]) / Math.sqrt(vr[c] + 1e-3) * scale[c] + bias[c];
      const refSm: number[] = [], refSp: number[] = [], refSl: number[] = [], refTr: number[] = [], refGemm: number[] = [];
      for (let c = 0; c < 3; c++) for (let h = 0; h < 4; h++) for (let w = 0; w < 5; w++) {
        let z = 0;
        for (let k = 0; k < 3; k++) z += Math.exp(bn(k, h, w));
        refSm.push(Math.exp(bn(c, h, w)) / z);
        if (w >= 2) refSp.push(at(c, h, w));
      }
      for (let c = 0; c < 3; c++) for (const h of [3, 1]) for (const w of [0, 2, 4]) refSl.push(at(c, h, w));
      for (let w = 0; w < 5; w++) for (let h = 0; h < 4; h++) for (let c = 0; c < 3; c++) refTr.push(bn(c, h, w));
      for (let o = 0; o < 7; o++) refGemm.push(x.reduce((s, v, i) => s + v * gw[o * 60 + i], 0));
      const refCat = [...x];
      for (let c = 0; c < 3; c++) for (let h = 0; h < 4; h++) for (let w = 0; w < 5; w++) refCat.push(bn(c, h, w));
      const refRm: number[] = [];
      for (let h = 0; h < 4; h++) {
        let sum = 0;
        for (let c = 0; c < 3; c++) for (let w = 0; w < 5; w++) sum += bn(c, h, w);
        refRm.push(sum / 15);
      }
      try {
        for (const [name, ref] of [['sm', refSm], ['sp1', refSp], ['sl', refSl], ['tr', refTr], ['gemm', refGemm], ['cat', refCat], ['rm', refRm]] as const) {
          const got = tf.tidy(() => {
            const y = m.tap([name], tf.transpose(tf.tensor4d(x, [1, 3, 4, 5]), [0, 2, 3, 1]) as tf.Tensor4D)[0];
            // 4-D taps come back channels-last; the references are in ONNX's logical layout
            return y.rank === 4 ? tf.transpose(y, [0, 3, 1, 2]) : y;
          }).dataSync();
          const e = maxRelErr(got, ref);
          assert.ok(e < 1e-5, `${name}: max rel ${e}`);
        }
      } finally {
        m.dispose();
      }
    });
  });
}

describe('ONNX loader errors', () => {
  before(async () => {
    await initBackend('cpu');
  });

  it('lists every unsupported op in one error naming the file', async () => {
    const f = writeModel(dir, 'unknown.onnx', [
      node('FooBar', ['input'], ['a']),
      node('Relu', ['a'], ['b']),
      node('Baz', ['b'], ['c'], [], 'com.example'),
      node('FooBar', ['c'], ['out']),
    ], [], [3, 8, 8], ['out']);
    await assert.rejects(loadModel(f), (e: Error) => {
      assert.match(e.message, /unsupported ONNX op\(s\): FooBar, com\.example:Baz$/);
      assert.ok(e.message.includes(f), e.message);
      return true;
    });
  });

  it('rejects a truncated file with an error naming it', async () => {
    const f = path.join(dir, 'truncated.onnx');
    fs.writeFileSync(f, fs.readFileSync(fixture('onnx', 'resnet18.onnx')).subarray(0, 200_000));
    await assert.rejects(loadModel(f), (e: Error) => {
      assert.ok(e.message.startsWith(f + ':'), e.message);
      assert.match(e.message, /truncated or corrupt/);
      return true;
    });
  });

  it('rejects a file that is not ONNX at all', async () => {
    const f = path.join(dir, 'text.onnx');
    fs.writeFileSync(f, 'this is a text file, not a protobuf\n'.repeat(10));
    await assert.rejects(loadModel(f), (e: Error) => e.message.startsWith(f + ':') && /ONNX model/.test(e.message));
  });

  it('loads external data from inside the model folder and refuses paths that leave it', async () => {
    const w = rand(3 * 3, 9);
    const wBytes = Buffer.from(new Float32Array(w).buffer);
    fs.writeFileSync(path.join(dir, 'w.bin'), Buffer.concat([Buffer.alloc(8), wBytes]));
    const ext = (loc: string) => ({ name: 'w', dims: [3, 3, 1, 1], dataType: FLOAT, dataLocation: 1,
      externalData: [{ key: 'location', value: loc }, { key: 'offset', value: '8' }, { key: 'length', value: String(wBytes.length) }] });
    const conv = [node('Conv', ['input', 'w'], ['out'], [ints('kernel_shape', [1, 1])])];
    const m = await loadModel(writeModel(dir, 'ext.onnx', conv, [ext('w.bin')], [3, 2, 2], ['out']));
    const x = rand(12, 2);
    const got = tapNCHW(m, 'out', x, [1, 3, 2, 2]);
    m.dispose();
    assert.ok(maxRelErr(got, convRef(x, [1, 3, 2, 2], w, [3, 3, 1, 1], [0, 0, 0], 1, [0, 0, 0, 0], [1, 1], [1, 1]).y) < 1e-6);
    const bad = writeModel(dir, 'ext_bad.onnx', conv, [ext('../w.bin')], [3, 2, 2], ['out']);
    await assert.rejects(loadModel(bad), /initializer w: external data path "\.\.\/w\.bin" leaves the model folder/);
  });

  it('names unknown layers in tap', async () => {
    const m = await loadModel(writeModel(dir, 'relu.onnx', [node('Relu', ['input'], ['out'])], [], [3, 2, 2], ['out']));
    const x = tf.zeros([1, 2, 2, 3]) as tf.Tensor4D;
    try {
      assert.throws(() => m.tap(['nope'], x), /no layer or tensor named "nope"/);
      assert.throws(() => m.tap(['out'], tf.zeros([1, 3, 2, 2]) as tf.Tensor4D), /input must be \[batch, 2, 2, 3\]/);
    } finally {
      x.dispose();
      m.dispose();
    }
  });
});
