// `neuron-lens.json`, the optional file beside a model: its values checked when it is read, so a bad value is an
// error naming the file and the field instead of NaN pixels later.

/** The optional `neuron-lens.json` beside a model. */
export interface ModelSidecar {
  inputRange?: [number, number];
  mean?: number[];
  std?: number[];
  labels?: string[];
  /** Name of the logits layer, when automatic detection is not wanted. */
  logitsLayer?: string;
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const show = (v: unknown) => { const s = JSON.stringify(v) ?? String(v); return s.length > 80 ? `${s.slice(0, 77)}...` : s; };

/** The sidecar's fields, each checked; `file` names it in errors. Fields it does not know are ignored. */
export function checkSidecar(j: unknown, file: string): ModelSidecar {
  const bad = (field: string, what: string, v: unknown) => new Error(`${file}: "${field}" ${what}, got ${show(v)}`);
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Error(`${file}: expected a JSON object like {"inputRange": [-1, 1]}, got ${show(j)}`);
  const o = j as Record<string, unknown>;
  const out: ModelSidecar = {};
  if (o.inputRange !== undefined) {
    const r = o.inputRange;
    if (!(Array.isArray(r) && r.length === 2 && r.every(isNumber) && r[0] !== r[1] && Number.isFinite(r[1] - r[0]))) {
      throw bad('inputRange', 'must be [lo, hi], two different finite numbers', r);
    }
    out.inputRange = [r[0], r[1]];
  }
  if ((o.mean === undefined) !== (o.std === undefined)) throw new Error(`${file}: "mean" and "std" go together (one value per input channel each)`);
  if (o.mean !== undefined) {
    const { mean, std } = o;
    if (!(Array.isArray(mean) && mean.length > 0 && mean.every(isNumber))) throw bad('mean', 'must be a list of finite numbers, one per input channel', mean);
    if (!(Array.isArray(std) && std.length === mean.length && std.every(isNumber))) throw bad('std', `must be a list of ${mean.length} finite number(s), like "mean"`, std);
    const i = std.findIndex((s, k) => s === 0 || !Number.isFinite(1 / s) || !Number.isFinite(mean[k] / s));
    if (i >= 0) throw bad('std', `must be non-zero numbers that the mean can be divided by (channel ${i} is ${std[i]})`, std);
    out.mean = mean;
    out.std = std;
  }
  if (o.labels !== undefined) {
    if (!(Array.isArray(o.labels) && o.labels.every((l) => typeof l === 'string'))) throw bad('labels', 'must be a list of strings (class names)', o.labels);
    out.labels = o.labels;
  }
  if (o.logitsLayer !== undefined) {
    if (typeof o.logitsLayer !== 'string' || o.logitsLayer === '') throw bad('logitsLayer', 'must be a layer name', o.logitsLayer);
    out.logitsLayer = o.logitsLayer;
  }
  return out;
}
