// Messages between the extension host and the visualization webview. Shared by both sides (the webview
// bundle includes it); every message is validated on arrival.
import { z } from 'zod';
import { ParamInfo, VisualizeSettings } from '../engine/protocol';

export const Cell = z.object({
  spec: z.string(),
  label: z.string(),
  /** PNG, base64; empty while nothing has been rendered yet. */
  png: z.string(),
  activation: z.number().nullable(),
  steps: z.number(),
  /** Shown on the card, e.g. `fourier` in a comparison. */
  tag: z.string().optional(),
  /** The parameterization's importance map (PNG, base64), shown under the image. */
  importancePng: z.string().optional(),
  /** The images of the example folder that activate this unit most: heatmap (PNG, base64), file, activation. */
  examples: z.array(z.object({ image: z.string(), activation: z.number(), png: z.string() })).optional(),
});
export type Cell = z.infer<typeof Cell>;

/** What the panel shows; also the webview's persisted state (setState) and what the serializer revives. */
export const PanelState = z.object({
  modelPath: z.string(),
  modelName: z.string(),
  inputRange: z.tuple([z.number(), z.number()]).optional(),
  units: z.array(z.string()).min(1),
  settings: VisualizeSettings,
  /** The engine's parameterizations (its registry): the options of the select, the columns of a comparison. */
  params: z.array(ParamInfo).default([]),
  compare: z.boolean(),
  cells: z.array(Cell),
  status: z.enum(['running', 'done', 'cancelled', 'error', 'idle']),
  message: z.string().optional(),
  /** The dataset examples under the images (neuronLens.exampleImages): the folder and how finding them went. */
  examples: z.object({ folder: z.string(), status: z.enum(['running', 'done', 'cancelled', 'error']), message: z.string() }).optional(),
});
export type PanelState = z.infer<typeof PanelState>;

export const ToWebview = z.union([
  z.object({ type: z.literal('state'), state: PanelState }),
  z.object({
    type: z.literal('progress'),
    fraction: z.number().min(0).max(1),
    text: z.string(),
    previews: z.array(z.object({ index: z.number().int().min(0), png: z.string() })).optional(),
  }),
]);
export type ToWebview = z.infer<typeof ToWebview>;

export const FromWebview = z.union([
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('cancel') }),
  z.object({ type: z.literal('run'), settings: VisualizeSettings }),
  z.object({ type: z.literal('compare'), index: z.number().int().min(0), settings: VisualizeSettings }),
  z.object({ type: z.literal('saveGrid') }),
  z.object({ type: z.literal('savePngs') }),
]);
export type FromWebview = z.infer<typeof FromWebview>;
