// The describe job: a model's description with, per layer, the unit kinds it offers (from the unit-kind
// registry), so the CLI and the editor's tree show exactly those.
import type { BackendInfo } from '../backend';
import { backendSummary } from '../backend/names';
import type { NLModel } from '../model/types';
import { describeModel, formatDescription, type ModelDescription } from '../model/describe';
import { kindsForLayer, parseUnits } from '../render/objectives';

export interface JobModelDescription extends ModelDescription {
  layers: (ModelDescription['layers'][number] & { unitKinds: string[] })[];
}

export function describeJob(model: NLModel): JobModelDescription {
  const d = describeModel(model);
  return { ...d, layers: d.layers.map((l, i) => ({ ...l, unitKinds: kindsForLayer(model.layers[i], model) })) };
}

/** The table `neuron-lens describe` prints, with the unit kinds of every layer. */
export function formatJobDescription(d: JobModelDescription): string {
  const text = formatDescription(d);
  const lines = text.split('\n');
  // The header, the blank line, the column heads, then one line per layer in order.
  const head = lines.findIndex((l) => l.startsWith('layer'));
  const width = Math.max(...lines.slice(head, head + 1 + d.layers.length).map((l) => l.length));
  lines[head] = `${lines[head].padEnd(width)}  units`;
  d.layers.forEach((l, i) => { lines[head + 1 + i] = `${lines[head + 1 + i].padEnd(width)}  ${l.unitKinds.join(', ')}`.trimEnd(); });
  return lines.join('\n');
}

/** `backend: wasm + oneDNN (why, with the threads)`. */
export function backendLine(b: BackendInfo): string {
  return `backend: ${backendSummary({ name: b.name, native: b.native })} (${b.reason})`;
}

/** Unit specs (ranges, class names, sums) expanded into single units, as visualize makes them. */
export function expandUnits(model: NLModel, specs: string[]): { spec: string; label: string }[] {
  return parseUnits(model, specs).map((u) => ({ spec: u.spec, label: u.label }));
}
