// The unit-kind registry: every kind of unit (`logit:`, `channel:`, `direction:`, ...) registers its syntax,
// help, the layers it applies to and its parser here (one file per kind under ./kinds, one registration line
// in ./kinds/index.ts). The CLI help, the engine's capabilities (and so the tree's context menu and the
// webview) are generated from it; ./spec.ts, the one parser of sums, weights and ranges, dispatches to it.
import type { LayerInfo, NLModel } from '../../model/types';
import type { Term } from './units';

/** What the UI and the CLI show of a unit kind (no code: it travels over the engine protocol). */
export interface UnitKindInfo {
  /** The spec prefix, e.g. `channel`. */
  name: string;
  /** e.g. `channel:<layer>:<c|a-b>` */
  syntax: string;
  /** One line for `--help` and the editor. */
  description: string;
  /** A spec a user can copy, e.g. `channel:conv_pw_6:0-7`. */
  example: string;
}

export interface UnitKind extends UnitKindInfo {
  /** Whether units of this kind can be made on `layer` of `model` (the tree offers only those). */
  appliesTo(layer: LayerInfo, model: NLModel): boolean;
  /**
   * Parses the text after `<name>:` into terms of weight 1: one per index of a range (`0-7`), else one.
   * `spec` is the whole user spec, for error messages. Throws an Error naming the spec and the problem.
   */
  parse(body: string, model: NLModel, spec: string): Term[];
}

const registry = new Map<string, UnitKind>();

export function registerUnitKind(kind: UnitKind): void {
  if (!/^[a-z][a-z0-9]*$/.test(kind.name)) throw new Error(`registerUnitKind: bad name "${kind.name}"`);
  if (registry.has(kind.name)) throw new Error(`registerUnitKind: "${kind.name}" is registered twice`);
  registry.set(kind.name, kind);
}

export function unitKinds(): readonly UnitKind[] {
  return [...registry.values()];
}

export function unitKind(name: string): UnitKind | undefined {
  return registry.get(name);
}

export function unitKindInfos(): UnitKindInfo[] {
  return unitKinds().map(({ name, syntax, description, example }) => ({ name, syntax, description, example }));
}

/** The kinds that apply to one layer, in registration order. */
export function kindsForLayer(layer: LayerInfo, model: NLModel): string[] {
  return unitKinds().filter((k) => k.appliesTo(layer, model)).map((k) => k.name);
}
