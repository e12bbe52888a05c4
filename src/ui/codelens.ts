// CodeLens in source code: "Open in Neuron Lens" above a line that loads a model file, and
// "Visualize <layer>" above a line that names a layer of a model loaded in the Models view. Lenses load
// no model: they use what the user has loaded already.
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { ModelStore } from './models';
import { visualLayers } from './tree';
import type { LoadedModel } from '../engine/protocol';
import { modelPathInQuotesSource } from '../core/model/formats';

const MODEL_PATH = new RegExp(modelPathInQuotesSource(), 'g');
const LAYER_NAME = /\bname\s*[=:]\s*["']([A-Za-z0-9_./-]+)["']/g;

export class ModelCodeLens implements vscode.CodeLensProvider {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  /** Layer name -> model path, for the models whose descriptions are loaded. */
  private layers = new Map<string, { path: string; model: LoadedModel }>();

  constructor(private readonly store: ModelStore) {
    store.onDidChange(() => this.refreshLayers());
    this.refreshLayers();
  }

  /** Takes the layer names of the models loaded now. */
  refreshLayers(): void {
    const next = new Map<string, { path: string; model: LoadedModel }>();
    for (const { path: p, model } of this.store.loadedModels()) {
      for (const l of visualLayers(model)) if (!next.has(l.name)) next.set(l.name, { path: p, model });
    }
    const same = next.size === this.layers.size && [...next].every(([name, hit]) => this.layers.get(name)?.model === hit.model);
    this.layers = next;
    if (!same) this.changed.fire();
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const lenses: vscode.CodeLens[] = [];
    const dir = doc.uri.scheme === 'file' ? path.dirname(doc.uri.fsPath) : undefined;
    const roots = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
    for (let i = 0; i < Math.min(doc.lineCount, 5000); i++) {
      const text = doc.lineAt(i).text;
      if (text.length > 2000) continue;
      for (const m of text.matchAll(MODEL_PATH)) {
        const p = m[1];
        const candidates = path.isAbsolute(p) ? [p] : [...(dir ? [path.resolve(dir, p)] : []), ...roots.map((r) => path.resolve(r, p))];
        const found = candidates.find((c) => fs.existsSync(c));
        const range = new vscode.Range(i, m.index ?? 0, i, (m.index ?? 0) + m[0].length);
        lenses.push(new vscode.CodeLens(range, found
          ? { title: 'Open in Neuron Lens', command: 'neuronLens.openInNeuronLens', arguments: [vscode.Uri.file(found)] }
          : { title: `Neuron Lens: ${p} not found`, command: '' }));
      }
      for (const m of text.matchAll(LAYER_NAME)) {
        const hit = this.layers.get(m[1]);
        if (!hit) continue;
        const range = new vscode.Range(i, m.index ?? 0, i, (m.index ?? 0) + m[0].length);
        lenses.push(new vscode.CodeLens(range, { title: `Visualize ${m[1]}`, command: 'neuronLens.visualizeLayerByName', arguments: [hit.path, m[1]] }));
      }
    }
    return lenses;
  }
}
