// The one table of job options: name, type, default, limits and help of every setting of `visualize`,
// `attack` and `examples`. The CLI's parseArgs options and help text, the protocol's zod schemas, core's defaults and
// (checked by a drift test) package.json's `neuronLens.*` settings all derive from it. Data only, no
// imports: the extension and the webview bundle it.

export interface OptionSpec {
  /** The settings key (camelCase); the CLI flag is its kebab-case (`earlyStop` -> `--early-stop`). */
  key: string;
  type: 'integer' | 'number' | 'string';
  /** Absent: the job decides (e.g. `size` = the model's input size). */
  default?: number | string;
  /** Inclusive limits. */
  min?: number;
  max?: number;
  /** The value must be > 0. */
  positive?: boolean;
  /** The allowed values of a string option (a fixed set; registries are checked by the job). */
  choices?: readonly string[];
  /** The CLI's placeholder: N, X, T. */
  arg: string;
  help: string;
  /** Also a VS Code setting `neuronLens.<key>` (package.json's contributes.configuration). */
  setting?: boolean;
}

/** Most optimization steps of one job: at tens of ms per step on a large network, 10000 steps are hours. */
export const MAX_STEPS = 10000;
/** Most images one visualization makes (units x --diversity x parameterizations): an atlas is many jobs (--shard). */
export const MAX_IMAGES = 10000;
/** Seeds are unsigned 32-bit integers. */
export const MAX_SEED = 2 ** 32 - 1;
/**
 * Most bytes a visualization's step may hold (its estimate: see jobs/visualize.ts stepBytesEstimate): beyond it the
 * job is refused before it starts, instead of a step that never finishes or a wasm heap that aborts at 4 GiB.
 */
export const MAX_STEP_BYTES = 4 * 2 ** 30;

/**
 * visualize. `param` is checked against the parameterization registry by the job; `transforms` by
 * the transform parser.
 */
export const VISUALIZE_OPTIONS = [
  { key: 'param', type: 'string', default: 'fourier', arg: 'P', help: 'image parameterization', setting: true },
  { key: 'steps', type: 'integer', default: 512, min: 1, max: MAX_STEPS, arg: 'N', help: 'optimization steps', setting: true },
  { key: 'size', type: 'integer', min: 8, max: 1024, arg: 'N', help: "side of the optimized image (default: the model's input size)", setting: true },
  { key: 'lr', type: 'number', default: 0.05, positive: true, arg: 'X', help: 'Adam learning rate', setting: true },
  { key: 'seed', type: 'integer', default: 0, min: 0, max: MAX_SEED, arg: 'N', help: 'random seed; same seed + same backend = same PNG bytes', setting: true },
  { key: 'transforms', type: 'string', default: 'standard', arg: 'T', help: 'standard | none | a list like pad:12,jitter:8,scale:0.9-1.1,rotate:10,jitter:4', setting: true },
  { key: 'decay', type: 'number', default: 1, min: 0, arg: 'X', help: 'Fourier 1/f decay power' },
  { key: 'tv', type: 'number', default: 0, min: 0, arg: 'X', help: 'total variation weight' },
  { key: 'l1', type: 'number', default: 0, min: 0, arg: 'X', help: 'L1 weight (pixels away from grey)' },
  { key: 'l2', type: 'number', default: 0, min: 0, arg: 'X', help: 'L2 weight (pixels away from grey)' },
  { key: 'blur', type: 'number', default: 0, min: 0, arg: 'X', help: 'weight of the distance to a blurred copy' },
  { key: 'batch', type: 'integer', default: 8, min: 1, max: 256, arg: 'N', help: 'most units optimized at once', setting: true },
  { key: 'diversity', type: 'integer', min: 2, max: 64, arg: 'N', help: "N different images per unit (files <unit>-d0.png ...), optimized jointly against the mean cosine similarity of their Gram matrices (Lucid's diversity)" },
  { key: 'diversityLayer', type: 'string', arg: 'L', help: "where --diversity compares Gram matrices (default: the unit's layer; for logits and dense layers, the last feature map with at least 2x2 positions)" },
  { key: 'diversityWeight', type: 'number', default: 2, min: 0, arg: 'X', help: 'weight of the diversity term (an absolute weight: for units of large activation, like ImageNet logits, try 10)' },
] as const satisfies readonly OptionSpec[];

/**
 * attack. The defaults are AM's (the paper's); the method changes some (see core/attack
 * resolveAttackOptions): fgsm and pgd have tv 0, pgd steps of epsilon/4, fgsm one step of epsilon.
 */
export const ATTACK_OPTIONS = [
  { key: 'method', type: 'string', default: 'am', choices: ['am', 'fgsm', 'pgd'], arg: 'M', help: 'am (maximize the target logit - tv * TV(delta)), fgsm (one step of size epsilon on cross-entropy), pgd (iterated cross-entropy steps)' },
  { key: 'epsilon', type: 'number', default: 0.01, positive: true, max: 1, arg: 'X', help: 'L-infinity radius on the [0,1] pixel scale (the PNG stays on the 8-bit grid inside it)' },
  { key: 'step', type: 'number', default: 0.01, positive: true, arg: 'X', help: 'step size (pgd: epsilon/4; fgsm: epsilon)' },
  { key: 'tv', type: 'number', default: 1e-4, min: 0, arg: 'X', help: 'lambda of the TV penalty on delta (fgsm and pgd: 0)' },
  { key: 'steps', type: 'integer', default: 30, min: 1, max: MAX_STEPS, arg: 'N', help: 'most gradient steps (fgsm: 1)' },
  { key: 'update', type: 'string', default: 'sign', choices: ['sign', 'gradient'], arg: 'U', help: 'sign, or gradient (step * g / max|g|)' },
  { key: 'earlyStop', type: 'string', default: 'yes', choices: ['yes', 'no'], arg: 'Y', help: 'yes: stop a pair once its target is top-1; no: run every step' },
  { key: 'seed', type: 'integer', default: 0, min: 0, max: MAX_SEED, arg: 'N', help: 'pgd random start seed' },
] as const satisfies readonly OptionSpec[];

/** examples: the top (and bottom) dataset images of units, from one streaming pass over an image folder. */
export const EXAMPLES_OPTIONS = [
  { key: 'top', type: 'integer', default: 9, min: 0, max: 1000, arg: 'K', help: 'images kept per unit with the highest activation' },
  { key: 'bottom', type: 'integer', default: 0, min: 0, max: 1000, arg: 'K', help: 'images kept per unit with the lowest (most negative) activation' },
  { key: 'batch', type: 'integer', default: 32, min: 1, max: 256, arg: 'N', help: 'images per forward pass' },
] as const satisfies readonly OptionSpec[];

/** Settings of the editor only (no job option): they still live in this table so package.json is checked. */
export const EDITOR_OPTIONS = [
  { key: 'previewEvery', type: 'integer', default: 8, min: 0, arg: 'N', help: 'send a live preview every this many steps (0: only the final images)', setting: true },
  { key: 'layerChannels', type: 'integer', default: 8, min: 1, max: 256, arg: 'N', help: 'how many channels "Visualize Layer" shows (the first N)', setting: true },
  { key: 'engineMemoryMB', type: 'integer', default: 4096, min: 128, max: 65536, arg: 'MB', help: 'heap limit of the engine process in MB (node --max-old-space-size): a model that needs more fails with a message naming this setting instead of exhausting the machine; a change restarts the engine', setting: true },
  { key: 'loadTimeoutSeconds', type: 'integer', default: 180, min: 1, max: 3600, arg: 'S', help: 'a model that takes longer to load fails with a clear error (the engine is restarted)', setting: true },
  { key: 'exampleImages', type: 'string', default: '', arg: 'DIR', help: 'a folder of PNG/JPEG images (searched recursively): the panel shows the ones that activate each visualized unit most (empty: none)', setting: true },
] as const satisfies readonly OptionSpec[];

type Spec = (typeof VISUALIZE_OPTIONS)[number] | (typeof ATTACK_OPTIONS)[number] | (typeof EXAMPLES_OPTIONS)[number] | (typeof EDITOR_OPTIONS)[number];
type ValueOf<S extends Spec> = S['type'] extends 'string' ? string : number;
type DefaultsOf<T extends readonly Spec[]> = { [S in Extract<T[number], { default: unknown }> as S['key']]: ValueOf<S> };

/** The defaults of a table, as an object keyed by option. */
export function defaultsOf<T extends readonly Spec[]>(table: T): DefaultsOf<T> {
  const out: Record<string, unknown> = {};
  for (const o of table) if ('default' in o) out[o.key] = o.default;
  return out as DefaultsOf<T>;
}

export const VISUALIZE_DEFAULTS = defaultsOf(VISUALIZE_OPTIONS);
export const ATTACK_DEFAULTS = defaultsOf(ATTACK_OPTIONS);
export const EXAMPLES_DEFAULTS = defaultsOf(EXAMPLES_OPTIONS);
export const EDITOR_DEFAULTS = defaultsOf(EDITOR_OPTIONS);

export function cliFlag(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Why `v` is not a valid value of `o` (a sentence naming the flag), or undefined when it is. */
export function optionProblem(o: OptionSpec, v: unknown): string | undefined {
  const name = `--${cliFlag(o.key)}`;
  if (o.type === 'string') {
    if (typeof v !== 'string') return `${name} expects a string, got ${JSON.stringify(v)}`;
    if (o.choices && !o.choices.includes(v)) return `${name} must be ${orList(o.choices)}, got "${v}"`;
    return undefined;
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) return `${name} expects ${o.type === 'integer' ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}`;
  if (o.type === 'integer' && !Number.isInteger(v)) return `${name} expects an integer, got ${v}`;
  const low = (o.positive && !(v > 0)) || (o.min !== undefined && v < o.min);
  const high = o.max !== undefined && v > o.max;
  if (!low && !high) return undefined;
  const lower = o.positive ? '> 0' : o.min !== undefined ? `>= ${o.min}` : '';
  if (o.type === 'integer') return `${name} must be an integer ${low ? lower : `<= ${o.max}`}, got ${v}`;
  const range = lower && o.max !== undefined ? `in ${o.positive ? '(0' : `[${o.min}`}, ${o.max}]` : lower || `<= ${o.max}`;
  return `${name} must be ${range}, got ${v}`;
}

/** `a, b or c`. */
export function orList(xs: readonly string[]): string {
  return xs.length < 2 ? xs.join('') : `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}`;
}

/** `(default 512)`, `(1..10000)`: the help text's tail for an option. */
export function optionHelp(o: OptionSpec): string {
  const parts: string[] = [];
  if (o.default !== undefined) parts.push(`default ${o.default}`);
  if (o.choices) parts.push(o.choices.join('|'));
  else if (o.min !== undefined && o.max !== undefined) parts.push(`${o.min}..${o.max}`);
  return `${o.help}${parts.length && !/\(default/.test(o.help) ? ` (${parts.join('; ')})` : ''}`;
}
