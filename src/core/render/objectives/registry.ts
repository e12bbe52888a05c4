// The unit-kind registry: every kind of unit (`logit:`, `channel:`, ...) registers its syntax, help and the
// layers it applies to here; the CLI help, the engine's capabilities (and so the tree's context menu and the
// webview) are generated from it.
import type { LayerInfo, NLModel } from '../../model/types';

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

export function unitKindInfos(): UnitKindInfo[] {
  return unitKinds().map(({ name, syntax, description, example }) => ({ name, syntax, description, example }));
}

/** The kinds that apply to one layer, in registration order. */
export function kindsForLayer(layer: LayerInfo, model: NLModel): string[] {
  return unitKinds().filter((k) => k.appliesTo(layer, model)).map((k) => k.name);
}
