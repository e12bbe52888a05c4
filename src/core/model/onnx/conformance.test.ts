/**
 * ONNX's own node conformance tests (Debian's libonnx-testdata: `model.onnx` + `test_data_set_N/{input,output}_K.pb`
 * per case), for every op the importer claims, on the cpu and wasm backends. A case is one model of a single op
 * type, or of several claimed types (ONNX's expanded functions). As the image-model contract has it, the first
 * input is fed at run time (channels-last when 4-D) and the others are baked into the model as constants; ops that
 * run on constants only get every input baked (and an unused image input). Outputs must match within RTOL/ATOL
 * (ints and bools exactly). Every claimed op's case must pass on both backends, or be listed in OUT_OF_SCOPE with
 * the reason; cases outside the supported opsets are out of scope by ./opset.ts, except those of ops unchanged
 * since (UNCHANGED_SINCE), which run at MIN_OPSET. Prints the pass counts per op.
 */
import { ModelFolder } from '../folder';
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../backend';
import { type Const, decodeTensor } from './consts';
import { OnnxGraph } from './index';
import { OPS, isConst, isSupported } from './ops';
import { MAX_OPSET, MIN_OPSET } from './opset';
import { DT, type ModelProto, type TensorProto, type ValueInfoProto, decodeModel, decodeTensorProto, toNum } from './proto';

const DATA = '/usr/include/onnx/backend/test/data/node';
const RTOL = 1e-3;
const ATOL = 1e-5;

/** Cases of claimed ops that are not expected to pass, with the reason. */
const OUT_OF_SCOPE: Record<string, string> = {
  test_averagepool_1d_default: '1-D pooling: the importer takes 2-D images',
  test_averagepool_3d_default: '3-D pooling: the importer takes 2-D images',
  test_cast_FLOAT_to_BFLOAT16: 'a Cast to bfloat16 keeps float32 precision (the importer computes in float32)',
  test_cast_FLOAT_to_STRING: 'strings are no image-model tensors',
  test_cast_STRING_to_FLOAT: 'strings are no image-model tensors',
  test_castlike_FLOAT_to_BFLOAT16_expanded: 'a Cast to bfloat16 keeps float32 precision (the importer computes in float32)',
  test_castlike_FLOAT_to_STRING_expanded: 'strings are no image-model tensors',
  test_castlike_STRING_to_FLOAT_expanded: 'strings are no image-model tensors',
  test_convtranspose_1d: '1-D convolution: the importer takes 2-D images',
  test_convtranspose_3d: '3-D convolution: the importer takes 2-D images',
  test_identity_opt: 'optional values are no image-model tensors',
  test_identity_sequence: 'sequences are no image-model tensors',
  test_maxpool_1d_default: '1-D pooling: the importer takes 2-D images',
  test_maxpool_3d_default: '3-D pooling: the importer takes 2-D images',
  test_training_dropout: 'training-mode Dropout is random (refused with an error: export in eval mode)',
  test_training_dropout_default: 'training-mode Dropout is random (refused with an error: export in eval mode)',
  test_training_dropout_default_mask: 'training-mode Dropout is random (refused with an error: export in eval mode)',
  test_training_dropout_mask: 'training-mode Dropout is random (refused with an error: export in eval mode)',
};

/**
 * Claimed ops whose current definition (ONNX 1.12, opsets up to 17) dates from before MIN_OPSET, with its version: a
 * case declaring such an opset means the same at MIN_OPSET, and runs there.
 */
const UNCHANGED_SINCE: Record<string, number> = {
  Elu: 6, HardSigmoid: 6, InstanceNormalization: 6, Selu: 6, Softplus: 1, GlobalAveragePool: 1, GlobalMaxPool: 1, Not: 1,
};

interface Case {
  name: string;
  dir: string;
  op: string;
  model: ModelProto;
  /** The opset the case runs at. */
  opset: number;
  /** Why the case is out of scope, if it is. */
  skip?: string;
}

function opsetOf(m: ModelProto): number {
  const d = m.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  return d ? toNum(d.version) : 1;
}

/** Label of the cases whose graph has several op types (ONNX's expanded functions), all of them claimed. */
const MULTI = '(several ops)';

/** The cases of claimed ops: models whose nodes are all of one op type of the default domain, or all of claimed
 *  types (labelled MULTI). */
function findCases(): Case[] {
  const cases: Case[] = [];
  for (const name of fs.readdirSync(DATA).sort()) {
    const dir = path.join(DATA, name);
    const file = path.join(dir, 'model.onnx');
    if (!fs.existsSync(file)) continue;
    const model = decodeModel(fs.readFileSync(file));
    const nodes = model.graph?.node ?? [];
    const types = new Set(nodes.map((n) => (n.domain && n.domain !== 'ai.onnx' ? `${n.domain}:` : '') + n.opType));
    if (![...types].every(isSupported)) continue;
    const op = types.size === 1 ? [...types][0] : MULTI;
    let opset = opsetOf(model);
    if (opset < MIN_OPSET && (UNCHANGED_SINCE[op] ?? Infinity) <= opset) opset = MIN_OPSET;
    let skip: string | undefined = OUT_OF_SCOPE[name];
    if (opset < MIN_OPSET) skip = `opset ${opset} < ${MIN_OPSET}: legacy broadcasting (opset.ts)`;
    else if (opset > MAX_OPSET) skip = `opset ${opset} > ${MAX_OPSET} (opset.ts)`;
    cases.push({ name, dir, op, model, opset, skip });
  }
  return cases;
}

function constType(t: tf.DataType): Const['type'] {
  return t === 'float32' ? 'float' : t === 'bool' ? 'bool' : 'int';
}

/** Checks `got` against `want` within RTOL/ATOL (exactly for ints and bools); an error message or ''. */
function compare(got: Const, want: Const): string {
  if (got.shape.join() !== want.shape.join()) return `shape [${got.shape}], expected [${want.shape}]`;
  if (got.type !== want.type) return `type ${got.type}, expected ${want.type}`;
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < want.data.length; i++) {
    const [a, e] = [got.data[i], want.data[i]];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (a === e) continue;
    const tol = want.type === 'float' ? ATOL + RTOL * Math.abs(e) : 0;
    const excess = Number.isNaN(a - e) ? Infinity : Math.abs(a - e) - tol;
    if (excess > worstExcess) [worst, worstExcess] = [i, excess];
  }
  return worst < 0 ? '' : `element ${worst} is ${got.data[worst]}, expected ${want.data[worst]}`;
}

/** The `.pb` tensors of a data set, for the graph's inputs or outputs `vis`. ONNX's test data holds bfloat16 values
 *  as their uint16 bits (numpy has no bfloat16): read back as bfloat16 where the graph declares it. */
function readPbs(dir: string, prefix: string, vis: ValueInfoProto[]): TensorProto[] {
  const files = fs.readdirSync(dir).filter((f) => f.startsWith(prefix) && f.endsWith('.pb'));
  files.sort((a, b) => parseInt(a.slice(prefix.length), 10) - parseInt(b.slice(prefix.length), 10));
  return files.map((f, i) => {
    const t = decodeTensorProto(fs.readFileSync(path.join(dir, f)));
    return vis[i]?.type?.tensorType?.elemType === DT.BFLOAT16 && t.dataType === DT.UINT16 ? { ...t, dataType: DT.BFLOAT16 } : t;
  });
}

/** Runs one data set of a case; throws on any difference. */
function runDataSet(c: Case, setDir: string): void {
  const where = `${c.name}/${path.basename(setDir)}`;
  const g = c.model.graph!;
  const inits = new Set(g.initializer.map((t) => t.name));
  const graphInputs = g.input.filter((i) => !inits.has(i.name));
  const inputs = readPbs(setDir, 'input_', graphInputs);
  const outputs = readPbs(setDir, 'output_', g.output);
  if (inputs.length !== graphInputs.length) throw new Error(`${where}: ${inputs.length} inputs for ${graphInputs.length} graph inputs`);
  const constOnly = c.op !== MULTI && !OPS.tf[c.op] && !OPS.shape[c.op];
  const fed = constOnly || inputs.length === 0 ? -1 : 0;
  const baked = inputs.map((t, i) => ({ ...t, name: graphInputs[i].name })).filter((_, i) => i !== fed);
  const image = { name: 'nl_image', type: { tensorType: { elemType: DT.FLOAT, shape: { dim: [1, 1, 1, 1].map((d) => ({ dimValue: d })) } } } };
  const model: ModelProto = {
    ...c.model,
    opsetImport: [{ domain: '', version: c.opset }],
    graph: { ...g, initializer: [...g.initializer, ...baked], input: fed < 0 ? [...g.input, image] : g.input },
  };
  const folder = ModelFolder.of(path.join(c.dir, 'model.onnx'));
  const graph = new OnnxGraph(path.join(c.dir, 'model.onnx'), model, folder);
  try {
    let got: Const[] = [];
    tf.tidy(() => {
      let x: tf.Tensor = tf.zeros([1, 1, 1, 1]);
      if (fed >= 0) {
        const v = decodeTensor(inputs[fed], `${where}: input ${fed}`, folder);
        const dtype = v.type === 'float' ? 'float32' : v.type === 'int' ? 'int32' : 'bool';
        x = tf.tensor(v.type === 'float' ? v.data : Int32Array.from(v.data), v.shape, dtype);
        if (x.rank === 4) x = tf.transpose(x, [0, 2, 3, 1]);
      }
      got = graph.run(x, graph.outputNames).map((v): Const => {
        if (isConst(v)) return v;
        const t = v.nhwc ? tf.transpose(v.t, [0, 3, 1, 2]) : v.t;
        return { type: constType(t.dtype), shape: t.shape, data: Float64Array.from(t.dataSync()) };
      });
    });
    if (got.length !== outputs.length) throw new Error(`${where}: ${got.length} outputs, expected ${outputs.length}`);
    outputs.forEach((o, i) => {
      const msg = compare(got[i], decodeTensor(o, `${where}: output ${i}`, folder));
      if (msg) throw new Error(`${where}: output ${i} (${graph.outputNames[i]}): ${msg}`);
    });
  } finally {
    graph.dispose();
  }
}

/** '' when every data set of the case passes, else the first error. */
function runCase(c: Case): string {
  try {
    const sets = fs.readdirSync(c.dir).filter((d) => d.startsWith('test_data_set_')).sort();
    if (sets.length === 0) return 'no test_data_set';
    for (const s of sets) runDataSet(c, path.join(c.dir, s));
    return '';
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}

const BACKENDS = ['cpu', 'wasm'] as const;

describe('ONNX node conformance (libonnx-testdata)', function () {
  this.timeout(300000);
  let cases: Case[] = [];
  const results = new Map<string, Map<string, string>>();

  before(function () {
    if (!fs.existsSync(DATA)) {
      console.log(`    skipped: ${DATA} not found (apt-get install libonnx-testdata)`);
      this.skip();
    }
    cases = findCases();
  });

  for (const backend of BACKENDS) {
    it(`every case of a claimed op passes on ${backend}, or is listed as out of scope`, async () => {
      await initBackend(backend);
      const res = new Map<string, string>();
      for (const c of cases) if (!c.skip || OUT_OF_SCOPE[c.name]) res.set(c.name, runCase(c));
      results.set(backend, res);
      const bad = cases.filter((c) => !c.skip && res.get(c.name));
      assert.ok(bad.length === 0, `${bad.length} case(s) failed on ${backend}:\n${bad.map((c) => `${c.name}: ${res.get(c.name)}`).join('\n')}`);
    });
  }

  it('lists only cases that exist, are claimed, and fail', () => {
    const byName = new Map(cases.map((c) => [c.name, c]));
    const stale = Object.keys(OUT_OF_SCOPE).filter((n) => !byName.has(n)
      || BACKENDS.every((b) => results.get(b)?.get(n) === ''));
    assert.deepEqual(stale, []);
  });

  after(() => {
    if (cases.length === 0) return;
    const ops = [...new Set(cases.map((c) => c.op))].sort();
    const rows = ops.map((op) => {
      const of = cases.filter((c) => c.op === op);
      const inScope = of.filter((c) => !c.skip);
      const pass = BACKENDS.map((b) => inScope.filter((c) => results.get(b)?.get(c.name) === '').length);
      return [op, of.length, of.length - inScope.length, ...pass];
    });
    const total = rows.reduce((t, r) => t.map((v, i) => (i === 0 ? v : (v as number) + (r[i] as number))), ['total', 0, 0, 0, 0]);
    const table = [['op', 'cases', 'out of scope', ...BACKENDS.map((b) => `${b} pass`)], ...rows, total];
    console.log(table.map((r) => `    ${String(r[0]).padEnd(22)}${r.slice(1).map((v) => String(v).padStart(14)).join('')}`).join('\n'));
  });
});
