// Pieces every CLI command shares: the options (from the jobs' option table), starting the backend,
// opening the model, writing a job's files, Ctrl-C.
import { BACKEND_SETTINGS, initBackend, isBackendSetting, type BackendInfo } from '../core/backend';
import { embeddedModelPath, loadModel, parseInputRange, type NLModel } from '../core/model';
import { paramNames } from '../core/render/param';
import { ATTACK_OPTIONS, backendLine, cliFlag, EXAMPLES_OPTIONS, optionHelp, optionProblem, VISUALIZE_OPTIONS, type OptionSpec } from '../core/jobs';

export class UsageError extends Error {}

export const VERSION: string = require('../../package.json').version;
export const TOOL = `neuron-lens ${VERSION}`;

/** parseArgs' options: every job option (as a string, parsed by its table entry) and the CLI's own. */
export const OPTIONS = {
  ...Object.fromEntries([...VISUALIZE_OPTIONS, ...ATTACK_OPTIONS, ...EXAMPLES_OPTIONS].map((o) => [cliFlag(o.key), { type: 'string' as const }])),
  unit: { type: 'string', multiple: true },
  image: { type: 'string', multiple: true },
  images: { type: 'string' },
  target: { type: 'string', multiple: true },
  out: { type: 'string' },
  json: { type: 'boolean' },
  backend: { type: 'string' },
  'input-range': { type: 'string' },
  layer: { type: 'string', multiple: true },
  units: { type: 'string', multiple: true },
  queue: { type: 'string' },
  shard: { type: 'string' },
  shards: { type: 'string' },
  merge: { type: 'string' },
  'stalled-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

export type Values = Record<string, string | string[] | boolean | undefined>;

/** A numeric option's value (undefined when not given); anything that is not a finite number is a usage error. */
export function numberOption(key: string, raw: unknown, integer = false): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  // Decimal notation only: Number() would also take '0x10', ' 5' and '' (0).
  if (typeof raw !== 'string' || !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw) || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new UsageError(`--${key} expects ${integer ? 'an integer' : 'a number'}, got "${String(raw)}"`);
  }
  return v;
}

/** The given options of one job's table, parsed and checked against its limits (usage errors name the flag). */
export function readOptions(table: readonly OptionSpec[], values: Values, skip: string[] = []): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const o of table) {
    const raw = values[cliFlag(o.key)];
    if (raw === undefined || skip.includes(o.key)) continue;
    const v = o.type === 'string' ? String(raw) : numberOption(cliFlag(o.key), raw, o.type === 'integer')!;
    const problem = optionProblem(o, v);
    if (problem) throw new UsageError(problem);
    out[o.key] = v;
  }
  return out;
}

/** Help lines for a table's options: `  --steps N        optimization steps (default 512)`. */
export function optionLines(table: readonly OptionSpec[], skip: string[] = []): string {
  return table.filter((o) => !skip.includes(o.key)).map((o) => {
    const left = `  --${cliFlag(o.key)} ${o.arg}`;
    return `${left.padEnd(20)} ${optionHelp(o)}`;
  }).join('\n');
}

/** Starts the backend named by `--backend` (default auto) and says on stderr which one runs and why. */
export async function startBackend(requested: string | undefined): Promise<BackendInfo> {
  const b = requested ?? 'auto';
  if (!isBackendSetting(b)) throw new UsageError(`--backend must be one of ${BACKEND_SETTINGS.join(', ')}, got "${b}"`);
  const info = await initBackend(b);
  process.stderr.write(`${backendLine(info)}\n`);
  return info;
}

/** Loads the model at `file` (the embedded default when undefined) with `--input-range`. */
export async function openModel(file: string | undefined, inputRange: string | undefined): Promise<NLModel> {
  const model = await loadModel(file ?? embeddedModelPath(), { inputRange: inputRange ? parseInputRange(inputRange) : undefined });
  const { height, width, channels } = model.input;
  process.stderr.write(`model: ${model.name} (${model.format}, input ${height}x${width}x${channels}, ${model.preprocess.describe})\n`);
  return model;
}

/**
 * Runs `job` with Ctrl-C asking it to stop after the current step (`stopped()` turns true); a second
 * Ctrl-C quits at once.
 */
export async function withStopOnSigint<T>(job: (stopped: () => boolean) => Promise<T>): Promise<T> {
  let stop = false;
  const onSigint = () => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write('\nstopping after the current step (Ctrl-C again to quit now)\n');
  };
  process.on('SIGINT', onSigint);
  try {
    return await job(() => stop);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** `--param`: one registered name, a comma list, `all`, or `both` (pixel and fourier). */
export function readParams(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  const names = raw === 'all' ? paramNames() : raw === 'both' ? ['pixel', 'fourier'] : raw.split(',').map((s) => s.trim());
  for (const n of names) {
    if (!paramNames().includes(n)) throw new UsageError(`--param must be ${paramNames().join(', ')}, a comma list of them, all or both; got "${raw}"`);
  }
  return names;
}
