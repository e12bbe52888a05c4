// The parameterization registry: every image parameterization registers one definition here, and the
// CLI help, the protocol (engine capabilities), the settings and the webview list them from it.
import type * as tf from '@tensorflow/tfjs-core';

export interface ParamOptions {
  batch: number;
  height: number;
  width: number;
  channels: number;
  seed: number;
  /** Fourier 1/f power, default 1. */
  decay?: number;
  /** Standard deviation of the initial values, default 0.01. */
  sd?: number;
  /** Lucid colour decorrelation; default true when channels == 3, only allowed then. */
  decorrelate?: boolean;
}

export interface ImageParam {
  readonly kind: string;
  readonly variables: tf.Variable[];
  /** [B,H,W,C] in (0,1). Creates new tensors: call inside tf.tidy / a gradient scope. */
  image(): tf.Tensor4D;
  dispose(): void;
}

/** What the UI and the CLI show of a parameterization (no code: it travels over the engine protocol). */
export interface ParamInfo {
  /** The value of `--param` and of the protocol's `settings.param`, e.g. `fourier`. */
  name: string;
  /** Label in the editor, e.g. `Fourier`. */
  title: string;
  /** One line for `--help`, the settings and the webview. */
  description: string;
  /** visualize also returns the importance map accumulated over the steps (MACO's transparency map). */
  importance?: boolean;
}

export interface ParamDefinition extends ParamInfo {
  create(opts: ParamOptions): ImageParam;
}

const registry = new Map<string, ParamDefinition>();

export function registerParam(def: ParamDefinition): void {
  if (!/^[a-z][a-z0-9-]*$/.test(def.name)) throw new Error(`registerParam: bad name "${def.name}" (lower-case letters, digits and -)`);
  if (registry.has(def.name)) throw new Error(`registerParam: "${def.name}" is registered twice`);
  registry.set(def.name, def);
}

/** Removes a registration: for tests that register a parameterization of their own and clean up after. */
export function unregisterParam(name: string): void {
  if (!registry.delete(name)) throw new Error(`unregisterParam: "${name}" is not registered`);
}

/** Every parameterization, in registration order. */
export function paramDefinitions(): readonly ParamDefinition[] {
  return [...registry.values()];
}

export function paramInfos(): ParamInfo[] {
  return paramDefinitions().map(({ name, title, description, importance }) => ({ name, title, description, ...(importance ? { importance } : {}) }));
}

export function paramNames(): string[] {
  return [...registry.keys()];
}

export function getParam(name: string): ParamDefinition {
  const def = registry.get(name);
  if (!def) throw new Error(`unknown parameterization "${name}" (expected ${paramNames().join(', ')})`);
  return def;
}

export function createParam(name: string, opts: ParamOptions): ImageParam {
  return getParam(name).create(opts);
}
