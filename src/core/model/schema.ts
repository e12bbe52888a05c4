// One validation layer for the JSON structures the importers read (TF.js model.json, Keras model configs): the
// shape of the structure is checked before any importer walks it, so a wrong type is an error naming the file,
// the field and what was expected, never `Cannot read properties of null`.
import { z } from 'zod';

/** `weightsManifest[0].paths` from a zod issue path. */
function fieldName(p: (string | number)[]): string {
  return p.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${k}` : k), '');
}

const show = (v: unknown) => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

function valueAt(root: unknown, p: (string | number)[]): unknown {
  let v: any = root;
  for (const k of p) v = v == null ? undefined : v[k];
  return v;
}

/** Parses `value` with `schema`; the first problem becomes `<where>: "<field>" <what was expected>, got <value>`. */
export function checkStructure<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const got = valueAt(value, issue.path);
  const what = issue.code === 'invalid_type' && got === undefined ? 'is missing' : issue.message.replace(/^Expected (.*), received .*$/, 'must be $1').replace(/^Invalid input$/, 'has the wrong form');
  const field = issue.path.length ? `"${fieldName(issue.path)}"` : 'the content';
  throw new Error(`${where}: ${field} ${what}${got === undefined ? '' : `, got ${show(got)}`}`);
}

const weightSpec = z.object({
  name: z.string().min(1),
  shape: z.array(z.number().int().nonnegative(), { message: 'must be a list of non-negative integers' }).max(8),
  dtype: z.enum(['float32', 'int32', 'bool']),
  quantization: z.union([
    z.object({ dtype: z.enum(['uint8', 'uint16']), scale: z.number().finite(), min: z.number().finite() }).passthrough(),
    z.object({ dtype: z.literal('float16') }).passthrough(),
  ], { errorMap: () => ({ message: 'must be {"dtype": "uint8" or "uint16", "scale": <number>, "min": <number>} or {"dtype": "float16"}' }) }).optional(),
}).passthrough();

/** A TF.js model.json: a topology object and a weights manifest of groups of shard paths and weight specs. */
export const TFJS_MODEL_JSON = z.object({
  format: z.string().optional(),
  modelTopology: z.record(z.unknown(), { message: 'must be an object (the model topology)' }),
  weightsManifest: z.array(z.object({
    paths: z.array(z.string().min(1)).min(1),
    weights: z.array(weightSpec),
  }).passthrough()),
}).passthrough();

/** A TF.js graph model's topology (a converted GraphDef): named nodes with an op, and the versions TF.js's executor reads. */
export const TFJS_GRAPH_TOPOLOGY = z.object({
  node: z.array(z.object({
    name: z.string().min(1),
    op: z.string().min(1),
    input: z.array(z.string()).optional(),
    attr: z.record(z.record(z.unknown())).optional(),
  }).passthrough()),
  versions: z.object({ producer: z.number().optional() }).passthrough(),
  library: z.object({ function: z.array(z.record(z.unknown())).optional() }).passthrough().optional(),
}).passthrough();

/**
 * The graph a TF.js graph model's nodes make: unique names, every input a node of the graph, no cycle, and integer
 * attributes (`i`, `list.i`) that are integers. `where` names the file.
 */
export function checkGraphNodes(nodes: { name: string; op: string; input?: string[]; attr?: Record<string, Record<string, unknown>> }[], where: string): void {
  const byName = new Map<string, (typeof nodes)[number]>();
  for (const n of nodes) {
    if (byName.has(n.name)) throw new Error(`${where}: two nodes are named "${n.name}"`);
    byName.set(n.name, n);
  }
  const source = (i: string) => i.replace(/^\^/, '').replace(/:\d+$/, '');
  const isInt = (v: unknown) => (typeof v === 'number' || typeof v === 'string') && /^-?\d+$/.test(String(v));
  for (const n of nodes) {
    for (const i of n.input ?? []) if (!byName.has(source(i))) throw new Error(`${where}: node "${n.name}" (${n.op}) takes input "${i}", which is no node of the graph`);
    for (const [k, a] of Object.entries(n.attr ?? {})) {
      const list = (a.list as { i?: unknown } | undefined)?.i;
      if ((a.i !== undefined && !isInt(a.i)) || (list !== undefined && !(Array.isArray(list) && list.every(isInt)))) {
        throw new Error(`${where}: node "${n.name}" (${n.op}): attribute "${k}" must hold integers, got ${show(a)}`);
      }
    }
  }
  // no cycle: depth-first, iteratively (a graph may be deep)
  const state = new Map<string, 1 | 2>();
  for (const start of nodes) {
    if (state.has(start.name)) continue;
    const stack: [string, number][] = [[start.name, 0]];
    state.set(start.name, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const ins = byName.get(top[0])!.input ?? [];
      if (top[1] === ins.length) { state.set(top[0], 2); stack.pop(); continue; }
      const next = source(ins[top[1]++]);
      const st = state.get(next);
      if (st === 1) throw new Error(`${where}: the graph has a cycle through node "${next}"`);
      if (!st) { state.set(next, 1); stack.push([next, 0]); }
    }
  }
}

const kerasLayer = z.object({
  class_name: z.string().min(1),
  config: z.record(z.unknown()).nullish(),
  name: z.string().optional(),
  inbound_nodes: z.array(z.unknown()).optional(),
}).passthrough();

/** A Keras model config (Sequential, Functional or Model): what KerasGraph walks. */
export const KERAS_TOPOLOGY = z.object({
  class_name: z.string().min(1),
  config: z.union([
    z.array(kerasLayer),
    z.object({
      layers: z.array(kerasLayer),
      input_layers: z.array(z.unknown()).nullish(),
      output_layers: z.array(z.unknown()).nullish(),
    }).passthrough(),
  ], { errorMap: () => ({ message: 'must be a list of layers or an object with "layers"' }) }),
}).passthrough();

/** Fields of Keras layer configs that hold sizes: positive integers (or lists of them) wherever they appear. */
const POSITIVE_SIZES = ['kernel_size', 'strides', 'pool_size', 'dilation_rate', 'size', 'filters', 'units', 'depth_multiplier', 'num_heads', 'key_dim'];

/** Checks the size fields of one layer's config; `where` names the layer. */
export function checkLayerConfig(cfg: Record<string, unknown>, where: string): void {
  const positive = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;
  for (const key of POSITIVE_SIZES) {
    const v = cfg[key];
    if (v === undefined || v === null) continue;
    if (!(positive(v) || (Array.isArray(v) && v.length > 0 && v.every(positive)))) {
      throw new Error(`${where}: "${key}" must be a positive integer or a list of them, got ${show(v)}`);
    }
  }
  for (const key of ['rate', 'epsilon']) {
    const v = cfg[key];
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0 && (key !== 'rate' || v < 1))) {
      throw new Error(`${where}: "${key}" must be a number ${key === 'rate' ? 'in [0, 1)' : '>= 0'}, got ${show(v)}`);
    }
  }
}
