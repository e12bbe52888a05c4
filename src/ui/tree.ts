// The "Models" tree: model -> layers -> channels (or classes, or ViT hidden dims), paged for wide layers.
// A model loads when its node is expanded; the node shows its own load state (loading, failed with the
// error, or not loadable in an untrusted workspace).
import * as vscode from 'vscode';
import type { LoadedModel, ModelDescription, UnitKindInfo } from '../engine/protocol';
import { modelDisplayName, type ModelStore } from './models';
import { specFromSyntax } from './specs';

export { specFromSyntax };

export const PAGE = 64;

type Layer = ModelDescription['layers'][number];

export type Node =
  | { type: 'model'; path: string; origin: string }
  | { type: 'layer'; path: string; layer: Layer; model: LoadedModel }
  | { type: 'page'; path: string; layer: Layer; model: LoadedModel; start: number; end: number }
  | { type: 'unit'; path: string; layer: Layer; model: LoadedModel; index: number }
  | { type: 'error'; message: string }
  /** Why a model is not loaded in an untrusted workspace; clicking it opens the trust editor. */
  | { type: 'untrusted'; message: string };

/** The kinds a layer offers, with what the engine says of them (syntax, description, example). */
export function layerKinds(layer: Layer, model: LoadedModel): UnitKindInfo[] {
  return layer.unitKinds.flatMap((k) => model.unitKinds.filter((i) => i.name === k));
}

/** The unit spec the engine takes for one index of a layer: the layer's first unit kind (the registry's order). */
export function unitSpec(layer: Layer, index: number, model: LoadedModel): string {
  const kind = layerKinds(layer, model)[0];
  if (!kind) throw new Error(`layer ${layer.name} offers no unit kind`);
  return specFromSyntax(kind.syntax, layer.name, String(index));
}

/** What one index of a layer is called: channel, class, hidden dim or unit. */
export function unitNoun(layer: Layer): string {
  if (layer.isLogits) return 'class';
  if (layer.outputShape.length === 3) return 'hidden dim';
  if (layer.outputShape.length === 4) return 'channel';
  return 'unit';
}

export function unitLabel(layer: Layer, index: number, model: LoadedModel): string {
  const name = layer.isLogits ? model.classNames?.[index] : undefined;
  return `${unitNoun(layer)} ${index}${name ? ` · ${name}` : ''}`;
}

const shape = (s: (number | null)[]) => `[${s.map((d) => (d === null ? '?' : d)).join('×')}]`;

function layerIcon(layer: Layer): vscode.ThemeIcon {
  if (layer.isLogits) return new vscode.ThemeIcon('target', new vscode.ThemeColor('charts.orange'));
  const k = layer.kind.toLowerCase();
  if (k.includes('conv')) return new vscode.ThemeIcon('symbol-array');
  if (k.includes('dense') || k === 'matmul') return new vscode.ThemeIcon('symbol-numeric');
  if (k.includes('pool')) return new vscode.ThemeIcon('fold-down');
  if (k.includes('norm')) return new vscode.ThemeIcon('symbol-operator');
  if (k.includes('attention') || k.includes('block')) return new vscode.ThemeIcon('symbol-event');
  if (k.includes('add') || k.includes('concat') || k.includes('multiply')) return new vscode.ThemeIcon('merge');
  if (k.includes('relu') || k.includes('activation') || k.includes('softmax')) return new vscode.ThemeIcon('pulse');
  return new vscode.ThemeIcon('symbol-field');
}

/** Layers worth visualizing: those that offer a unit kind, but the input. */
export function visualLayers(m: LoadedModel): Layer[] {
  return m.description.layers.filter((l) => l.kind !== 'InputLayer' && l.channels > 0 && layerKinds(l, m).length > 0);
}

export class ModelTree implements vscode.TreeDataProvider<Node> {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;

  constructor(private readonly store: ModelStore) {
    store.onDidChange(() => this.changed.fire(undefined));
  }

  getTreeItem(n: Node): vscode.TreeItem {
    const C = vscode.TreeItemCollapsibleState;
    switch (n.type) {
      case 'model': {
        const t = new vscode.TreeItem(modelDisplayName(n.path), C.Collapsed);
        t.id = `model:${n.path}`;
        const where = n.origin === 'example' ? 'example' : vscode.workspace.asRelativePath(n.path);
        const refusal = this.store.refusal(n.path);
        const s = this.store.status(n.path);
        t.description = where;
        t.tooltip = `${n.path}\n\nExpand to load it.`;
        t.iconPath = new vscode.ThemeIcon('type-hierarchy');
        if (refusal) {
          t.description = `${where} · not loaded (untrusted workspace)`;
          t.tooltip = `${n.path}\n\n${refusal}`;
          t.iconPath = new vscode.ThemeIcon('workspace-untrusted');
        } else if (s?.state === 'loading') {
          t.description = `${where} · loading…`;
          t.iconPath = new vscode.ThemeIcon('loading~spin');
        } else if (s?.state === 'failed') {
          t.description = `${where} · failed to load`;
          t.tooltip = `${n.path}\n\n${s.error}\n\nExpand to try again.`;
          t.iconPath = new vscode.ThemeIcon('error', new vscode.ThemeColor('errorForeground'));
        } else if (s?.state === 'loaded') {
          t.tooltip = `${n.path}\n\n${s.model.description.format}, ${s.model.description.layers.length} layers, input ${shape(s.model.description.inputShape)}`;
        }
        t.contextValue = 'nl.model';
        t.resourceUri = vscode.Uri.file(n.path);
        return t;
      }
      case 'layer': {
        const t = new vscode.TreeItem(n.layer.name, C.Collapsed);
        t.id = `layer:${n.path}:${n.layer.name}`;
        t.description = `${n.layer.kind} ${shape(n.layer.outputShape)}${n.layer.isLogits ? ' · logits' : ''}`;
        t.tooltip = new vscode.MarkdownString(`**${n.layer.name}** — ${n.layer.kind}\n\noutput ${shape(n.layer.outputShape)}, ${n.layer.channels} ${unitNoun(n.layer)}${n.layer.channels === 1 ? '' : 's'}${n.layer.isLogits ? '\n\npre-softmax logits' : ''}\n\nunits: ${n.layer.unitKinds.join(', ')}`);
        t.iconPath = layerIcon(n.layer);
        t.contextValue = n.layer.isLogits ? 'nl.layer.logits' : 'nl.layer';
        return t;
      }
      case 'page': {
        const t = new vscode.TreeItem(`${unitNoun(n.layer)}s ${n.start}–${n.end - 1}`, C.Collapsed);
        t.id = `page:${n.path}:${n.layer.name}:${n.start}`;
        t.iconPath = new vscode.ThemeIcon('list-unordered');
        t.contextValue = 'nl.page';
        return t;
      }
      case 'unit': {
        const t = new vscode.TreeItem(unitLabel(n.layer, n.index, n.model), C.None);
        t.id = `unit:${n.path}:${n.layer.name}:${n.index}`;
        t.iconPath = new vscode.ThemeIcon(n.layer.isLogits ? 'tag' : 'circle-small-filled');
        t.contextValue = 'nl.unit';
        t.tooltip = `${unitSpec(n.layer, n.index, n.model)} — click to visualize`;
        t.command = { command: 'neuronLens.visualizeUnit', title: 'Visualize', arguments: [n] };
        return t;
      }
      case 'error': {
        const t = new vscode.TreeItem(n.message, C.None);
        t.iconPath = new vscode.ThemeIcon('error', new vscode.ThemeColor('errorForeground'));
        t.tooltip = n.message;
        return t;
      }
      case 'untrusted': {
        const t = new vscode.TreeItem('Trust the workspace to load this model', C.None);
        t.iconPath = new vscode.ThemeIcon('shield');
        t.tooltip = n.message;
        t.command = { command: 'workbench.trust.manage', title: 'Manage Workspace Trust' };
        return t;
      }
    }
  }

  async getChildren(n?: Node): Promise<Node[]> {
    if (!n) return this.store.list().map((e) => ({ type: 'model', path: e.path, origin: e.origin }));
    if (n.type === 'model') {
      const refusal = this.store.refusal(n.path);
      if (refusal) return [{ type: 'untrusted', message: refusal }];
      try {
        const m = await this.store.load(n.path);
        return visualLayers(m).map((layer) => ({ type: 'layer', path: n.path, layer, model: m }));
      } catch (e) {
        return [{ type: 'error', message: (e as Error).message }];
      }
    }
    if (n.type === 'layer') {
      const count = n.layer.channels;
      if (count <= PAGE) return range(0, count).map((index) => ({ ...n, type: 'unit', index }));
      return range(0, Math.ceil(count / PAGE)).map((p) => ({ ...n, type: 'page', start: p * PAGE, end: Math.min(count, (p + 1) * PAGE) }));
    }
    if (n.type === 'page') return range(n.start, n.end).map((index) => ({ type: 'unit', path: n.path, layer: n.layer, model: n.model, index }));
    return [];
  }

  refresh(): void {
    this.changed.fire(undefined);
  }
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}
