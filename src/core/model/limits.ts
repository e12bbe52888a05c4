// The size limits of model loading, each with a documented default and the environment variable that raises it
// (README, "Limits"). Checked before anything is allocated; every refusal names the file, the number and the variable.

interface Limit {
  env: string;
  default: number;
  unit: string;
}

export const LIMITS = {
  /** Bytes of weights and weight files a model may read into memory, all files together. */
  modelBytes: { env: 'NEURON_LENS_MAX_MODEL_BYTES', default: 4 * 2 ** 30, unit: 'bytes' },
  /** Values (height x width x channels) of one input image: 1182x1182 RGB or 2048x2048 grey. */
  inputValues: { env: 'NEURON_LENS_MAX_INPUT_VALUES', default: 4_194_304, unit: 'values' },
} satisfies Record<string, Limit>;

/** The limit's value: its environment variable when set (a positive integer), else its default. */
export function limitValue(l: Limit): number {
  const raw = process.env[l.env];
  if (raw === undefined || raw.trim() === '') return l.default;
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v <= 0) throw new Error(`environment variable ${l.env}="${raw}" is not a positive whole number of ${l.unit}`);
  return v;
}

/** `over the limit of N units (raise it with ENV=...)`, the common tail of a refusal. */
export function overLimit(l: Limit): string {
  return `over the limit of ${limitValue(l)} ${l.unit} (set the environment variable ${l.env} to raise it)`;
}

/** Refuses an image input [batch, height, width, channels] larger than the input budget, before a dry run allocates it. */
export function checkInputSize(shape: readonly (number | null | string)[], file: string): void {
  const [, h, w, c] = shape;
  if (typeof h !== 'number' || typeof w !== 'number' || typeof c !== 'number') return;
  const n = h * w * c;
  if (n > limitValue(LIMITS.inputValues)) {
    throw new Error(`${file}: the input image ${h}x${w}x${c} has ${n} values, ${overLimit(LIMITS.inputValues)}`);
  }
}
