// The engine protocol: JSON messages over the Node IPC channel between the extension host (EngineClient)
// and the engine child process (engine/main.ts). One file for both sides; every message is validated
// with these schemas on arrival, so a malformed message becomes a clear error instead of a crash.
//
//   client -> engine   {kind:'request', id, method, params}
//   engine -> client   {kind:'response', id, ok:true, result} | {kind:'response', id, ok:false, error}
//                      {kind:'progress', id, ...}   (id = the request id of the running job)
//                      {kind:'log', level, message}
import { z } from 'zod';
import { BACKEND_SETTINGS, type BackendSetting } from '../core/backend/names';
import { ATTACK_OPTIONS, EXAMPLES_OPTIONS, VISUALIZE_OPTIONS, type OptionSpec } from '../core/jobs/options';

export { BACKEND_SETTINGS, type BackendSetting };

/** A zod schema of one job option, from the option table: its type and limits; optional, the job fills the default. */
function optionSchema(o: OptionSpec): z.ZodTypeAny {
  if (o.type === 'string') return o.choices ? z.enum(o.choices as [string, ...string[]]) : z.string();
  let n = o.type === 'integer' ? z.number().int() : z.number();
  if (o.positive) n = n.positive();
  if (o.min !== undefined) n = n.min(o.min);
  if (o.max !== undefined) n = n.max(o.max);
  return n;
}

function tableSchema(table: readonly OptionSpec[], overrides: Record<string, z.ZodTypeAny> = {}) {
  return z.object(Object.fromEntries(table.map((o) => {
    const base = overrides[o.key] ?? optionSchema(o);
    return [o.key, o.default !== undefined ? base.default(o.default) : base.optional()];
  })));
}

const ModelRef = z.object({
  /** Absolute path of a model file (model.json). */
  path: z.string().min(1),
  inputRange: z.tuple([z.number(), z.number()]).optional(),
});
export type ModelRef = z.infer<typeof ModelRef>;

/**
 * Every option of core/jobs/options.ts VISUALIZE_OPTIONS; missing ones take the table's default.
 * `param` is any string here: the engine checks it against its parameterization registry.
 */
export const VisualizeSettings = tableSchema(VISUALIZE_OPTIONS, { param: z.string().min(1) }) as z.ZodObject<{
  param: z.ZodDefault<z.ZodString>; steps: z.ZodDefault<z.ZodNumber>; size: z.ZodOptional<z.ZodNumber>; lr: z.ZodDefault<z.ZodNumber>;
  seed: z.ZodDefault<z.ZodNumber>; transforms: z.ZodDefault<z.ZodString>; decay: z.ZodDefault<z.ZodNumber>; tv: z.ZodDefault<z.ZodNumber>;
  l1: z.ZodDefault<z.ZodNumber>; l2: z.ZodDefault<z.ZodNumber>; blur: z.ZodDefault<z.ZodNumber>; batch: z.ZodDefault<z.ZodNumber>;
}>;
export type VisualizeSettings = z.infer<typeof VisualizeSettings>;

const LayerDesc = z.object({
  name: z.string(),
  kind: z.string(),
  outputShape: z.array(z.number().nullable()),
  channels: z.number(),
  isLogits: z.boolean().optional(),
  /** The unit kinds this layer offers (from the engine's unit-kind registry). */
  unitKinds: z.array(z.string()),
});

export const ModelDescription = z.object({
  name: z.string(),
  source: z.string(),
  format: z.string(),
  inputShape: z.array(z.number().nullable()),
  batchNote: z.string().optional(),
  preprocess: z.string(),
  logitsLayer: z.string().nullable(),
  logitsFrom: z.string().optional(),
  classes: z.number(),
  layers: z.array(LayerDesc),
});
export type ModelDescription = z.infer<typeof ModelDescription>;


const UnitKindInfo = z.object({ name: z.string(), syntax: z.string(), description: z.string(), example: z.string() });
export type UnitKindInfo = z.infer<typeof UnitKindInfo>;
export const ParamInfo = z.object({ name: z.string(), title: z.string(), description: z.string(), importance: z.boolean().optional() });
export type ParamInfo = z.infer<typeof ParamInfo>;

/** What the engine can do, from its registries: the editor builds its menus and options from this. */
const Capabilities = z.object({
  params: z.array(ParamInfo),
  unitKinds: z.array(UnitKindInfo),
  backends: z.array(z.string()),
  modelFiles: z.array(z.object({ pattern: z.string(), what: z.string() })),
});
export type Capabilities = z.infer<typeof Capabilities>;

const BackendInfo = z.object({
  name: z.string(), reason: z.string(), threads: z.number().optional(), device: z.string().optional(),
  /** The native kernel library serving the wasm backend (e.g. `oneDNN v3.x`), when there is one. */
  native: z.string().optional(),
  capabilities: Capabilities,
});
export type EngineBackendInfo = z.infer<typeof BackendInfo>;

const LoadedModel = z.object({
  description: ModelDescription,
  /** Every unit kind of the engine's registry (a layer's `unitKinds` name those that apply to it). */
  unitKinds: z.array(UnitKindInfo),
  /** sha256 of the model file, its weight files and its neuron-lens.json: the result cache key. */
  hash: z.string(),
  classNames: z.array(z.string()).optional(),
});
export type LoadedModel = z.infer<typeof LoadedModel>;

const UnitImage = z.object({
  spec: z.string(),
  label: z.string(),
  /** PNG, base64. */
  png: z.string(),
  activation: z.number(),
  steps: z.number(),
  /** The parameterization's importance map (PNG, base64), when it has one (MACO). */
  importancePng: z.string().optional(),
  /** Index of the diversity copy. */
  copy: z.number().int().optional(),
});
export type UnitImage = z.infer<typeof UnitImage>;

const VisualizeResult = z.object({ units: z.array(UnitImage), msPerStep: z.number(), cancelled: z.boolean(), backend: z.string() });
export type VisualizeResult = z.infer<typeof VisualizeResult>;

const attackOption = (key: string) => optionSchema(ATTACK_OPTIONS.find((o) => o.key === key)!);

/**
 * The options of core/jobs/options.ts ATTACK_OPTIONS (earlyStop as a boolean), plus PGD's random start.
 * Method and epsilon are required here; the rest default in core by method (resolveAttackOptions).
 */
export const AttackSettings = z.object({
  method: attackOption('method') as z.ZodEnum<['am', 'fgsm', 'pgd']>,
  /** L-infinity radius on the [0,1] pixel scale. */
  epsilon: attackOption('epsilon') as z.ZodNumber,
  steps: attackOption('steps') as z.ZodNumber,
  step: (attackOption('step') as z.ZodNumber).optional(),
  tv: (attackOption('tv') as z.ZodNumber).optional(),
  update: (attackOption('update') as z.ZodEnum<['sign', 'gradient']>).optional(),
  earlyStop: z.boolean().optional(),
  randomStart: z.boolean().optional(),
  seed: (attackOption('seed') as z.ZodNumber).optional(),
});
export type AttackSettings = z.infer<typeof AttackSettings>;

const ClassProb = z.object({ index: z.number(), name: z.string().optional(), prob: z.number() });

const AttackPair = z.object({
  pair: z.number(),
  /** The image file of this pair. */
  image: z.string(),
  target: z.number(),
  targetName: z.string().optional(),
  success: z.boolean(),
  successAfterQuantization: z.boolean(),
  stepsToSuccess: z.number().nullable(),
  stepsRun: z.number(),
  originalClass: z.number(),
  originalName: z.string().optional(),
  originalProb: z.number(),
  finalClass: z.number(),
  finalName: z.string().optional(),
  finalProb: z.number(),
  targetProb: z.number(),
  linf: z.number(),
  l2: z.number(),
  tv: z.number(),
  psnr: z.number(),
  ssim: z.number(),
  top5Before: z.array(ClassProb),
  top5After: z.array(ClassProb),
  /** PNGs, base64: the 8-bit original, the adversarial, and 0.5 + 10 x the perturbation. */
  original: z.string(),
  adversarial: z.string(),
  perturbation: z.string(),
});
export type AttackPair = z.infer<typeof AttackPair>;

/** One dataset example of a unit (core/jobs/examples.ts ExampleHit, with its heatmap as PNG base64). */
const ExampleHit = z.object({
  /** Path relative to the image folder. */
  image: z.string(),
  activation: z.number(),
  /** The receptive field around the maximum, [x, y, width, height] in model-input pixels. */
  box: z.tuple([z.number(), z.number(), z.number(), z.number()]),
  /** The image with the unit's map as a heatmap and the box drawn (PNG, base64). */
  heatmapPng: z.string(),
});
export type ExampleHit = z.infer<typeof ExampleHit>;

const UnitExamples = z.object({
  unit: z.string(),
  label: z.string(),
  statistic: z.enum(['mean', 'max']),
  top: z.array(ExampleHit),
  bottom: z.array(ExampleHit),
});
export type UnitExamples = z.infer<typeof UnitExamples>;

/** Every method: its params and its result. */
export const METHODS = {
  /** Start the backend (`auto` picks like the CLI). Must be the first request; later calls return the same info. */
  init: { params: z.object({ backend: z.enum(BACKEND_SETTINGS) }), result: BackendInfo },
  loadModel: { params: ModelRef, result: LoadedModel },
  describe: { params: ModelRef, result: ModelDescription },
  /** Expands unit specs (ranges, class names) into single units, as visualize would: the editor's cells and its spec check. */
  units: {
    params: z.object({ model: ModelRef, units: z.array(z.string().min(1)).min(1) }),
    result: z.object({ units: z.array(z.object({ spec: z.string(), label: z.string() })) }),
  },
  visualize: {
    params: z.object({
      model: ModelRef,
      /** Unit specs as the CLI takes them: `channel:conv_pw_6:0-7`, `logit:3`, `vit:block_2:5:nocls`. */
      units: z.array(z.string().min(1)).min(1),
      settings: VisualizeSettings,
      /** Send preview PNGs every this many steps (0: never). */
      previewEvery: z.number().int().min(0),
    }),
    result: VisualizeResult,
  },
  /**
   * Targeted adversarial examples: every image x every target (zipped when the counts match). Progress
   * notifications carry step, steps, msPerStep and etaMs (chunk 0 of 1, no previews).
   */
  attack: {
    params: z.object({
      model: ModelRef,
      /** Image files (PNG or JPEG), fitted to the model's input. */
      images: z.array(z.string().min(1)).min(1),
      /** Class indexes or class names. */
      targets: z.array(z.string().min(1)).min(1),
      settings: AttackSettings,
    }),
    result: z.object({ pairs: z.array(AttackPair), msPerStep: z.number(), stepsRun: z.number(), cancelled: z.boolean() }),
  },
  /**
   * Dataset examples: the images of a folder that activate each unit most (core/jobs/examples.ts). Progress
   * notifications carry images indexed (step) of those to index (steps) and etaMs (chunk 0 of 1). A cancel
   * keeps the index in `out` (the next request resumes) and answers `cancelled: true` with no units.
   */
  examples: {
    params: z.object({
      model: ModelRef,
      /** Folder of PNG/JPEG images, searched recursively. */
      images: z.string().min(1),
      units: z.array(z.string().min(1)).min(1),
      settings: tableSchema(EXAMPLES_OPTIONS),
      /** Output folder: PNGs, examples.json and the index (keep it per image folder, so runs share the index). */
      out: z.string().min(1),
    }),
    result: z.object({ units: z.array(UnitExamples), cancelled: z.boolean() }),
  },
  /** Cancel a running or queued job by the id of its request. */
  /**
   * found: the job is running or queued (it stops after its current step). loading: the model files the
   * engine is loading now; a load cannot stop midway, so the client restarts the engine to cancel one.
   */
  cancel: { params: z.object({ jobId: z.number().int() }), result: z.object({ found: z.boolean(), loading: z.array(z.string()) }) },
  /** Test hook: the engine exits at once with this code (to check that the client survives a crash). */
  crash: { params: z.object({ code: z.number().int() }), result: z.object({}) },
} as const;

export type Method = keyof typeof METHODS;
/** Params as the engine sees them (defaults filled in). */
export type Params<M extends Method> = z.infer<(typeof METHODS)[M]['params']>;
/** Params as a client may send them (options with a default may be left out). */
export type ParamsIn<M extends Method> = z.input<(typeof METHODS)[M]['params']>;
export type Result<M extends Method> = z.infer<(typeof METHODS)[M]['result']>;

export const Request = z.object({
  kind: z.literal('request'),
  id: z.number().int(),
  method: z.enum(Object.keys(METHODS) as [Method, ...Method[]]),
  params: z.unknown(),
});
export type Request = z.infer<typeof Request>;

export const Progress = z.object({
  kind: z.literal('progress'),
  id: z.number().int(),
  step: z.number(),
  steps: z.number(),
  chunk: z.number(),
  chunks: z.number(),
  unitIndexes: z.array(z.number()),
  msPerStep: z.number(),
  etaMs: z.number(),
  /** Current images of the units in this chunk (PNG, base64), on preview steps. */
  previews: z.array(z.string()).optional(),
});
export type Progress = z.infer<typeof Progress>;

export const EngineMessage = z.union([
  z.object({ kind: z.literal('response'), id: z.number().int(), ok: z.literal(true), result: z.unknown() }),
  z.object({ kind: z.literal('response'), id: z.number().int(), ok: z.literal(false), error: z.object({ message: z.string() }) }),
  Progress,
  z.object({ kind: z.literal('log'), level: z.enum(['info', 'warn', 'error']), message: z.string() }),
]);
export type EngineMessage = z.infer<typeof EngineMessage>;

/** One line naming what is wrong with a message, e.g. `params.settings.steps: Expected number, received string`. */
export function describeIssues(e: z.ZodError): string {
  return e.issues.slice(0, 3).map((i) => `${i.path.length ? i.path.join('.') : '(message)'}: ${i.message}`).join('; ');
}

export function parseParams<M extends Method>(method: M, params: unknown): Params<M> {
  const r = METHODS[method].params.safeParse(params);
  if (!r.success) throw new Error(`invalid params for ${method}: ${describeIssues(r.error)}`);
  return r.data as Params<M>;
}

export function parseResult<M extends Method>(method: M, result: unknown): Result<M> {
  const r = METHODS[method].result.safeParse(result);
  if (!r.success) throw new Error(`invalid result from the engine for ${method}: ${describeIssues(r.error)}`);
  return r.data as Result<M>;
}
