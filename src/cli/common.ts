// Pieces every CLI command shares: starting the backend, opening the model, Ctrl-C.
import { initBackend, type BackendInfo, type BackendName } from '../core/backend';
import { embeddedModelPath, loadModel, parseInputRange, type NLModel } from '../core/model';

export class UsageError extends Error {}

export const BACKENDS = ['auto', 'wasm', 'cpu', 'webgpu', 'tensorflow'];

/** A numeric option's value (undefined when not given); anything that is not a finite number is a usage error. */
export function numberOption(key: string, raw: unknown, integer = false): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new UsageError(`--${key} expects ${integer ? 'an integer' : 'a number'}, got "${String(raw)}"`);
  }
  return v;
}

/** Starts the backend named by `--backend` (default auto) and says on stderr which one runs and why. */
export async function startBackend(requested: string | undefined): Promise<BackendInfo> {
  const b = requested ?? 'auto';
  if (!BACKENDS.includes(b)) throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}, got "${b}"`);
  const info = await initBackend(b as BackendName | 'auto');
  process.stderr.write(`backend: ${info.name} (${info.reason})\n`);
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
