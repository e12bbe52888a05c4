// TF.js graph models (converted SavedModels / TF-Hub modules) interpreted node by node, their weights held as
// constants. tfjs-converter's executor runs convolutions as fused ops whose gradient computes the filter's too and
// makes every weight a gradient source; here a convolution with what follows it (a per-channel Mul, a bias Add or
// BiasAdd, Relu/Relu6) runs as one shared conv layer (./layers/conv.ts: input gradient only), a MatMul with a
// constant kernel as the shared dense layer (./layers/dense.ts), and the remaining supported ops as TF.js ops.
// A graph with any other op, or a node in a form it does not run, returns what it lacks: the caller runs the graph
// with the executor instead.
import * as tf from '@tensorflow/tfjs-core';
import { convolution, type ConvActivation, type FlippedFilters } from './layers/conv';
import { denseKernel, denseLastAxis } from './layers/dense';

interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, any>;
}

const b64 = (s: string | undefined): string => (s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8'));
const ints = (a: any): number[] => (a?.list?.i ?? []).map(Number);

const CONV = new Set(['Conv2D', 'DepthwiseConv2dNative', '_FusedConv2D', 'FusedDepthwiseConv2dNative']);
const ELEMENTWISE: Record<string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor> = {
  Add: tf.add, AddV2: tf.add, BiasAdd: tf.add, Sub: tf.sub, Mul: tf.mul, RealDiv: tf.div, Maximum: tf.maximum, Minimum: tf.minimum,
};
const UNARY: Record<string, (a: tf.Tensor) => tf.Tensor> = {
  Relu: tf.relu, Relu6: tf.relu6, Sigmoid: tf.sigmoid, Tanh: tf.tanh, Identity: (a) => a, Softmax: (a) => tf.softmax(a),
};
const SUPPORTED = new Set([...CONV, ...Object.keys(ELEMENTWISE), ...Object.keys(UNARY), 'MatMul', '_FusedMatMul', 'Mean', 'Squeeze', 'Reshape', 'AvgPool', 'MaxPool', 'ConcatV2', 'Pad', 'Placeholder', 'Const', 'NoOp']);

/** One step of a run: computes `output` from the values of `inputs` (runtime tensors; constants are bound). */
interface Step { output: string; kind: string; inputs: string[]; run: (ins: tf.Tensor[]) => tf.Tensor; index: number }

export interface InterpretedGraph {
  /** Step outputs in graph order, with the op that names their kind (a fused conv is its convolution's op). */
  steps: { name: string; kind: string }[];
  run(x: tf.Tensor4D, names: string[]): tf.Tensor[];
  dispose(): void;
}

/**
 * Builds the interpreter, or returns the ops or nodes it does not run (then nothing is kept). `weights` are the graph's
 * constants by node name; the interpreter owns them from here on (it disposes them, unless it returns ops).
 */
export function interpretGraph(what: string, nodes: GraphNode[], inputName: string, weights: tf.NamedTensorMap): InterpretedGraph | { unsupported: string[] } {
  const unsupported = new Set<string>();
  for (const n of nodes) {
    if (!SUPPORTED.has(n.op)) unsupported.add(n.op);
    else if (n.op === 'Const' && !weights[n.name]) unsupported.add(`Const ${n.name} without weights`);
    else if (n.attr?.data_format && b64(n.attr.data_format.s) !== 'NHWC') unsupported.add(`${n.op} (${b64(n.attr.data_format.s)})`);
    for (const i of n.input ?? []) if (/:\d+$/.test(i) && !i.endsWith(':0')) unsupported.add(`${n.op} with a second output`);
  }
  if (unsupported.size) return { unsupported: [...unsupported].sort() };

  const keep: tf.Tensor[] = Object.values(weights);
  const own = <T extends tf.Tensor>(t: T): T => { keep.push(t); return t; };
  const flipped: FlippedFilters = new Map();
  const consts = new Map<string, tf.Tensor>(Object.entries(weights));
  const ref = (i: string) => i.replace(/:0$/, '');
  const dataInputs = (n: GraphNode) => (n.input ?? []).filter((i) => !i.startsWith('^')).map(ref);
  for (const n of nodes) if (n.op === 'Identity' && consts.has(dataInputs(n)[0])) consts.set(n.name, consts.get(dataInputs(n)[0])!);
  const consumers = new Map<string, GraphNode[]>();
  for (const n of nodes) for (const i of dataInputs(n)) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const constOf = (name: string, n: GraphNode, role: string): tf.Tensor => {
    const c = consts.get(name);
    if (!c) throw new Error(`${what}: node ${n.name} (${n.op}): the ${role} ${name} is computed at run time; only constant ones are supported`);
    return c;
  };
  const intsOf = (name: string, n: GraphNode, role: string) => Array.from(constOf(name, n, role).dataSync());
  /** A constant that broadcasts along the last axis only: scalar, [C] or [1, ..., 1, C]. */
  const perChannel = (name: string, c: number): tf.Tensor1D | null => {
    const t = consts.get(name);
    if (!t || t.dtype !== 'float32' || t.shape.slice(0, -1).some((d) => d !== 1) || (t.size !== 1 && t.size !== c)) return null;
    return own(tf.tidy(() => tf.mul(tf.ones([c]), tf.reshape(t, [-1]))) as tf.Tensor1D);
  };
  const single = (name: string): GraphNode | undefined => {
    const cs = consumers.get(name) ?? [];
    return cs.length === 1 ? cs[0] : undefined;
  };

  const steps: Step[] = [];
  const done = new Set<string>();
  try {
    nodes.forEach((n, index) => {
      if (done.has(n.name) || n.op === 'Const' || n.op === 'Placeholder' || n.op === 'NoOp' || consts.has(n.name)) return;
      const ins = dataInputs(n);
      const attr = n.attr ?? {};
      const runtime = ins.filter((i) => !consts.has(i));
      const add = (output: string, kind: string, inputs: string[], run: (v: tf.Tensor[]) => tf.Tensor) => {
        steps.push({ output, kind, inputs, run, index });
        done.add(output);
      };
      if (CONV.has(n.op)) {
        const depthwise = n.op.includes('Depthwise');
        const filter = constOf(ins[1], n, 'filter') as tf.Tensor4D;
        const cout = depthwise ? filter.shape[2] * filter.shape[3] : filter.shape[3];
        const s = ints(attr.strides);
        const d = ints(attr.dilations);
        const padding = b64(attr.padding?.s);
        let pad: 'same' | 'valid' | tf.backend_util.ExplicitPadding;
        if (padding === 'SAME' || padding === 'VALID') pad = padding === 'SAME' ? 'same' : 'valid';
        else if (padding === 'EXPLICIT') { const e = ints(attr.explicit_paddings); pad = [[e[0], e[1]], [e[2], e[3]], [e[4], e[5]], [e[6], e[7]]]; }
        else throw new Error(`${what}: node ${n.name} (${n.op}): padding "${padding}" is not supported`);
        let scale: tf.Tensor1D | null = null;
        let bias: tf.Tensor1D | null = null;
        let act: ConvActivation = 'linear';
        const addBias = (b: tf.Tensor1D) => { bias = bias ? own(tf.add(bias, b) as tf.Tensor1D) : b; };
        const fusedOps = (attr.fused_ops?.list?.s ?? []).map(b64);
        if (fusedOps.length) {
          if (fusedOps[0] !== 'BiasAdd' || fusedOps.length > 2 || (fusedOps[1] && !['Relu', 'Relu6'].includes(fusedOps[1]))) {
            throw new Error(`${what}: node ${n.name} (${n.op}): fused ops ${fusedOps.join('+')} are not supported (BiasAdd, then Relu or Relu6)`);
          }
          const b = perChannel(ins[2], cout);
          if (!b) throw new Error(`${what}: node ${n.name} (${n.op}): the bias ${ins[2]} is not a constant of ${cout} values`);
          addBias(b);
          if (fusedOps[1]) act = fusedOps[1].toLowerCase() as ConvActivation;
        }
        // Absorb what follows while it is the only consumer: Mul by a per-channel constant, Add/BiasAdd of one, Relu/Relu6.
        let out = n.name;
        for (let next = single(out); act === 'linear' && next; next = single(out)) {
          const nIns = dataInputs(next);
          const other = nIns.find((i) => i !== out);
          if (['Relu', 'Relu6'].includes(next.op)) act = next.op.toLowerCase() as ConvActivation;
          else if (['Mul', 'Add', 'AddV2', 'BiasAdd'].includes(next.op) && nIns.length === 2 && other && (next.op !== 'BiasAdd' || nIns[0] === out)) {
            const v = perChannel(other, cout);
            if (!v) break;
            if (next.op === 'Mul') {
              scale = scale ? own(tf.mul(scale, v) as tf.Tensor1D) : v;
              if (bias) bias = own(tf.mul(bias, v) as tf.Tensor1D);
            } else addBias(v);
          } else break;
          done.add(out);
          out = next.name;
        }
        let kernel = filter;
        if (scale) {
          const sc = scale as tf.Tensor1D;
          kernel = own(tf.tidy(() => tf.mul(filter, depthwise ? tf.reshape(sc, [1, 1, filter.shape[2], filter.shape[3]]) : sc)) as tf.Tensor4D);
        }
        const f = convolution({ kernel, bias: bias ?? undefined, strides: [s[1] ?? 1, s[2] ?? 1], pad, dilations: [d[1] ?? 1, d[2] ?? 1], depthwise, activation: act }, keep, flipped);
        add(out, n.op, [ins[0]], ([x]) => f(x as tf.Tensor4D));
        return;
      }
      if ((n.op === 'MatMul' || n.op === '_FusedMatMul') && consts.has(ins[1]) && !attr.transpose_a?.b) {
        const b = consts.get(ins[1]) as tf.Tensor2D;
        const w = attr.transpose_b?.b ? own(tf.transpose(b)) : b;
        const k = denseKernel(w, keep);
        const fusedOps = (attr.fused_ops?.list?.s ?? []).map(b64);
        if (fusedOps.length && (fusedOps[0] !== 'BiasAdd' || fusedOps.length > 2 || (fusedOps[1] && !['Relu', 'Relu6'].includes(fusedOps[1])))) {
          throw new Error(`${what}: node ${n.name} (${n.op}): fused ops ${fusedOps.join('+')} are not supported (BiasAdd, then Relu or Relu6)`);
        }
        const bias = fusedOps.length ? constOf(ins[2], n, 'bias') : undefined;
        const act = fusedOps[1] ? UNARY[fusedOps[1]] : (a: tf.Tensor) => a;
        add(n.name, n.op, [ins[0]], ([x]) => act(denseLastAxis(x, k, bias)));
        return;
      }
      if (n.op === 'MatMul' || n.op === '_FusedMatMul') throw new Error(`${what}: node ${n.name} (${n.op}): only a constant right-hand side, not transposed on the left, is supported`);
      const bind = (vals: tf.Tensor[]) => { let j = 0; return ins.map((i) => consts.get(i) ?? vals[j++]); };
      if (ELEMENTWISE[n.op]) { const op = ELEMENTWISE[n.op]; add(n.name, n.op, runtime, (v) => { const [a, b] = bind(v); return op(a, b); }); return; }
      if (UNARY[n.op]) { const op = UNARY[n.op]; add(n.name, n.op, runtime, ([a]) => op(a)); return; }
      switch (n.op) {
        case 'Mean': {
          const axes = intsOf(ins[1], n, 'axes');
          const keepDims = !!attr.keep_dims?.b;
          add(n.name, n.op, [ins[0]], ([x]) => tf.mean(x, axes, keepDims));
          return;
        }
        case 'Squeeze': { const axes = ints(attr.squeeze_dims); add(n.name, n.op, [ins[0]], ([x]) => tf.squeeze(x, axes.length ? axes : undefined)); return; }
        case 'Reshape': {
          // A constant shape that holds an exported batch of 1 ([1, 1001]) takes the batch at hand.
          const shape = intsOf(ins[1], n, 'shape');
          const rest = shape.slice(1);
          const known = rest.reduce((a, d) => (d > 0 ? a * d : a), 1);
          add(n.name, n.op, [ins[0]], ([x]) => {
            if (shape[0] !== 1 || x.shape[0] === 1) return tf.reshape(x, shape);
            // per image, what a -1 after the batch stands for
            const each = x.size / x.shape[0];
            return tf.reshape(x, [x.shape[0], ...rest.map((d) => (d === -1 ? each / known : d))]);
          });
          return;
        }
        case 'AvgPool': case 'MaxPool': {
          const k = ints(attr.ksize); const s = ints(attr.strides);
          const padding = b64(attr.padding?.s);
          if (padding !== 'SAME' && padding !== 'VALID') throw new Error(`${what}: node ${n.name} (${n.op}): padding "${padding}" is not supported`);
          const f = n.op === 'AvgPool' ? tf.avgPool : tf.maxPool;
          add(n.name, n.op, [ins[0]], ([x]) => f(x as tf.Tensor4D, [k[1], k[2]], [s[1], s[2]], padding === 'SAME' ? 'same' : 'valid'));
          return;
        }
        case 'ConcatV2': {
          const axis = intsOf(ins[ins.length - 1], n, 'axis')[0];
          const parts = ins.slice(0, -1);
          add(n.name, n.op, parts.filter((i) => !consts.has(i)), (v) => { let j = 0; return tf.concat(parts.map((i) => consts.get(i) ?? v[j++]), axis); });
          return;
        }
        case 'Pad': {
          const p = intsOf(ins[1], n, 'paddings');
          add(n.name, n.op, [ins[0]], ([x]) => tf.pad(x, Array.from({ length: p.length / 2 }, (_, i) => [p[2 * i], p[2 * i + 1]] as [number, number])));
          return;
        }
        default:
          throw new Error(`${what}: node ${n.name} (${n.op}) is not supported`);
      }
    });
  } catch (e) {
    // a node in a form the interpreter does not run (a computed filter, a padding or fused op it lacks)
    tf.dispose(keep);
    return { unsupported: [(e as Error).message] };
  }
  const producer = new Map(steps.map((s) => [s.output, s]));
  const plans = new Map<string, Step[]>();
  const plan = (targets: string[]): Step[] => {
    const key = targets.join('\u0000');
    let p = plans.get(key);
    if (p) return p;
    const need = new Set<Step>();
    const stack = [...targets];
    while (stack.length) {
      const t = stack.pop()!;
      const s = producer.get(t);
      if (!s || need.has(s)) continue;
      need.add(s);
      stack.push(...s.inputs);
    }
    p = [...need].sort((a, b) => a.index - b.index);
    plans.set(key, p);
    return p;
  };
  return {
    steps: steps.map((s) => ({ name: s.output, kind: s.kind })),
    run(x: tf.Tensor4D, names: string[]): tf.Tensor[] {
      for (const t of names) if (!producer.has(t)) throw new Error(`${what}: no layer named "${t}"`);
      const env = new Map<string, tf.Tensor>([[inputName, x]]);
      return tf.tidy(() => {
        for (const s of plan(names)) {
          env.set(s.output, s.run(s.inputs.map((i) => {
            const v = env.get(i);
            if (!v) throw new Error(`${what}: node ${s.output} (${s.kind}): input ${i} is not available`);
            return v;
          })));
        }
        return names.map((t) => env.get(t)!);
      });
    },
    dispose(): void {
      tf.dispose(keep);
      keep.length = 0;
      flipped.clear();
    },
  };
}
