// A model's description for users and tools (`neuron-lens describe`, the editor's tree).
import type { NLModel } from './types';

export interface ModelDescription {
  name: string;
  source: string;
  format: string;
  inputShape: (number | null)[];
  /** How a fixed batch in `inputShape` takes other batches. */
  batchNote?: string;
  preprocess: string;
  logitsLayer: string | null;
  /** How the logits layer was found. */
  logitsFrom?: string;
  classes: number;
  layers: { name: string; kind: string; outputShape: (number | null)[]; channels: number; isLogits?: boolean }[];
}

export function describeModel(model: NLModel): ModelDescription {
  const logits = model.layers.find((l) => l.name === model.logitsLayer);
  return {
    name: model.name,
    source: model.source,
    format: model.format,
    inputShape: [model.input.batch ?? null, model.input.height, model.input.width, model.input.channels],
    ...(model.input.batchNote ? { batchNote: model.input.batchNote } : {}),
    preprocess: model.preprocess.describe,
    logitsLayer: model.logitsLayer,
    ...(model.logitsLayer && model.logitsFrom ? { logitsFrom: model.logitsFrom } : {}),
    classes: logits ? logits.outputShape.slice(1).reduce<number>((a, b) => a * (b ?? 1), 1) : 0,
    layers: model.layers.map((l) => ({ name: l.name, kind: l.kind, outputShape: l.outputShape, channels: l.channels, ...(l.isLogits ? { isLogits: true } : {}) })),
  };
}

const shape = (s: (number | null)[]) => `[${s.map((d) => (d === null ? '?' : d)).join(', ')}]`;

export function formatDescription(d: ModelDescription): string {
  const rows = d.layers.map((l) => [l.name + (l.isLogits ? '  <- logits' : ''), l.kind, shape(l.outputShape), String(l.channels)]);
  const head = ['layer', 'kind', 'output shape', 'channels'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [
    `${d.name}  (${d.format})  ${d.source}`,
    `input ${shape(d.inputShape)}, ${d.preprocess}${d.batchNote ? `\n  ${d.batchNote}` : ''}`,
    `logits: ${d.logitsLayer ?? 'none found'}${d.classes ? ` (${d.classes} classes)` : ''}${d.logitsFrom ? `, ${d.logitsFrom}` : ''}`,
    '',
    line(head),
    ...rows.map(line),
    '',
  ].join('\n');
}
