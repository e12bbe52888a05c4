// What this engine can do, from the registries: the parameterizations, the unit kinds, the backends and
// the model file kinds. The engine's `init` returns it; the editor builds its menus and options from it.
import { BACKEND_SETTINGS } from '../backend/names';
import { MODEL_FILE_KINDS } from '../model/formats';
import { unitKindInfos, type UnitKindInfo } from '../render/objectives';
import { paramInfos, type ParamInfo } from '../render/param';

export interface Capabilities {
  params: ParamInfo[];
  unitKinds: UnitKindInfo[];
  /** `auto` and every backend name. */
  backends: string[];
  modelFiles: { pattern: string; what: string }[];
}

export function capabilities(): Capabilities {
  return {
    params: paramInfos(),
    unitKinds: unitKindInfos(),
    backends: [...BACKEND_SETTINGS],
    modelFiles: MODEL_FILE_KINDS.map(({ pattern, what }) => ({ pattern, what })),
  };
}
