// The VS Code extension: the Models tree, commands and menus, the visualization panel, CodeLens and the
// status bar, on top of the engine child process (src/engine). See DESIGN.md.
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { EngineClient } from './engine/client';
import { openAtlas } from './ui/atlasPanel';
import { ATTACK_VIEW_TYPE, AttackPanel } from './ui/attackPanel';
import type { AttackControls, AttackPanelState } from './ui/attackProtocol';
import { ResultCache } from './ui/cache';
import { ModelCodeLens } from './ui/codelens';
import { ModelStore, modelDisplayName } from './ui/models';
import { VIEW_TYPE, VisualizationPanel, type PanelDeps, type RunOutcome } from './ui/panel';
import { backendSetting, defaultSettings, engineMemoryMB, layerChannels, loadTimeoutMs } from './ui/settings';
import { loadRefusal } from './ui/trust';
import { layerKinds, ModelTree, specFromSyntax, unitLabel, unitNoun, unitSpec, visualLayers, type Node } from './ui/tree';
import type { LoadedModel } from './engine/protocol';
import { modelFileExtensions, modelFileList } from './core/model/formats';
import { backendSummary } from './core/backend/names';
import { ATTACK_DEFAULTS } from './core/jobs/options';

export interface NeuronLensApi {
  engine: EngineClient;
  store: ModelStore;
  tree: ModelTree;
  codeLens: ModelCodeLens;
  panels: () => VisualizationPanel[];
  attackPanel: () => AttackPanel | undefined;
}

/** Optional arguments of neuronLens.attackImage (each one given skips its prompt). */
export interface AttackImageArgs {
  model?: string;
  image?: string;
  /** A class index or name. */
  target?: string | number;
  epsilon?: number;
  method?: AttackControls['method'];
  /** Lambda, the TV weight (AM). */
  tv?: number;
  steps?: number;
}

const IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg'];
/** The attack panel's starting knobs: the jobs' option table's defaults (AM, the paper's). */
const DEFAULT_ATTACK_CONTROLS: AttackControls = { method: ATTACK_DEFAULTS.method as AttackControls['method'], epsilon: ATTACK_DEFAULTS.epsilon, tv: ATTACK_DEFAULTS.tv, steps: ATTACK_DEFAULTS.steps };

type LayerNode = Extract<Node, { type: 'layer' }>;
type UnitNode = Extract<Node, { type: 'unit' }>;

/** Parses "0-7", "3,5,9" or "0-3, 10" into sorted unique indexes below `max`. */
export function parseIndexList(s: string, max: number): number[] {
  const out = new Set<number>();
  for (const part of s.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part);
    if (!m) throw new Error(`"${part}" is not an index or a range like 0-7`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new Error(`range ${part} is backwards`);
    if (b >= max) throw new Error(`${b} is out of range: the layer has ${max} (0-${max - 1})`);
    for (let i = a; i <= b; i++) out.add(i);
  }
  if (out.size === 0) throw new Error('no index given');
  return [...out].sort((x, y) => x - y);
}

export function activate(context: vscode.ExtensionContext): NeuronLensApi {
  const log = vscode.window.createOutputChannel('Neuron Lens');
  const status = vscode.window.createStatusBarItem('neuronLens.backend', vscode.StatusBarAlignment.Right, 100);
  status.name = 'Neuron Lens backend';
  status.command = 'neuronLens.showEngineLog';
  status.text = '$(circle-outline) Neuron Lens';
  status.tooltip = 'Neuron Lens: the engine starts on the first visualization';
  status.show();

  // Workspace trust (ui/trust.ts): untrusted, only the bundled examples load; the engine client refuses the rest.
  const refusal = (file: string) => loadRefusal(file, { trusted: vscode.workspace.isTrusted, bundledDir: context.asAbsolutePath('models') });
  const engine = new EngineClient({
    modulePath: context.asAbsolutePath(path.join('dist', 'engine.js')),
    backend: backendSetting(),
    memoryMB: engineMemoryMB(),
    loadTimeoutMs: loadTimeoutMs(),
    refuse: refusal,
    onLog: (level, m) => log.appendLine(`[engine ${level}] ${m}`),
    onReady: (b) => {
      status.text = `$(pulse) Neuron Lens: ${backendSummary(b)}`;
      status.tooltip = `Neuron Lens backend — ${b.reason}`;
      log.appendLine(`engine ready: ${b.reason}`);
    },
    onExit: ({ code, signal, expected, outOfMemory }) => {
      status.text = '$(circle-outline) Neuron Lens';
      status.tooltip = 'Neuron Lens: the engine is stopped; it starts on the next visualization';
      const how = outOfMemory ? `ran out of memory: the model needs more memory than ${engineMemoryMB()} MB (setting neuronLens.engineMemoryMB)` : signal ? `was killed (${signal})` : `exited with code ${code}`;
      log.appendLine(`engine ${how}${expected ? '' : ' unexpectedly'}`);
      if (!expected) {
        status.text = '$(warning) Neuron Lens: engine stopped';
        void vscode.window.showWarningMessage(`The Neuron Lens engine ${how}. It restarts on the next visualization.`, 'Show Log').then((a) => a && log.show());
      }
    },
  });
  const store = new ModelStore(context.workspaceState, engine, refusal);
  const cache = new ResultCache(path.join(context.globalStorageUri.fsPath, 'results'));
  const tree = new ModelTree(store);
  const treeView = vscode.window.createTreeView('neuronLens.models', { treeDataProvider: tree, showCollapseAll: true });
  const codeLens = new ModelCodeLens(store);
  const deps: PanelDeps = { extensionUri: context.extensionUri, engine, store, cache, log, examplesDir: path.join(context.globalStorageUri.fsPath, 'examples') };


  async function run(modelPath: string, units: string[], labels: string[], compare = false): Promise<RunOutcome | undefined> {
    try {
      return await VisualizationPanel.show(deps, { modelPath, modelName: modelDisplayName(modelPath), units, labels, compare }, defaultSettings());
    } catch (e) {
      log.appendLine(`visualization failed: ${(e as Error).message}`);
      return undefined;
    }
  }

  function runLayer(modelPath: string, model: LoadedModel, layer: LayerNode['layer'], indexes: number[]): Promise<RunOutcome | undefined> {
    return run(modelPath, indexes.map((i) => unitSpec(layer, i, model)), indexes.map((i) => `${layer.name} ${unitLabel(layer, i, model)}`));
  }

  function openModel(p: string, origin: 'opened' | 'example'): string {
    const dir = fs.existsSync(p) && fs.statSync(p).isDirectory();
    const hf = dir && !fs.existsSync(path.join(p, 'model.json')) && fs.existsSync(path.join(p, 'model.safetensors'));
    const file = dir ? path.join(p, hf ? 'model.safetensors' : 'model.json') : p;
    store.add(file, origin);
    void vscode.commands.executeCommand('neuronLens.models.focus');
    return file;
  }

  const cmd = (id: string, fn: (...args: any[]) => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, fn));

  cmd('neuronLens.openModel', async () => {
    const picked = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { [`Model (${modelFileList()})`]: modelFileExtensions() }, openLabel: 'Open in Neuron Lens' });
    return picked?.[0] ? openModel(picked[0].fsPath, 'opened') : undefined;
  });
  cmd('neuronLens.openAtlas', (uri?: vscode.Uri) => openAtlas(uri instanceof vscode.Uri ? uri : undefined));
  cmd('neuronLens.openInNeuronLens', (uri?: vscode.Uri) => {
    const target = uri ?? vscode.window.activeTextEditor?.document.uri;
    if (!target) return undefined;
    return openModel(target.fsPath, 'opened');
  });
  cmd('neuronLens.openExampleModel', async () => {
    const dir = context.asAbsolutePath('models');
    const names = fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => fs.existsSync(path.join(dir, n, 'model.json'))) : [];
    if (!names.length) {
      void vscode.window.showErrorMessage(`Neuron Lens: no example models are bundled in this build (${dir} holds no model.json)`);
      return undefined;
    }
    const name = names.length === 1 ? names[0] : await vscode.window.showQuickPick(names, { placeHolder: 'Example model' });
    return name ? openModel(path.join(dir, name, 'model.json'), 'example') : undefined;
  });
  cmd('neuronLens.refreshModels', () => store.refresh());
  cmd('neuronLens.closeModel', (n?: Node) => { if (n?.type === 'model') store.remove(n.path); });
  cmd('neuronLens.visualizeLayer', (n?: LayerNode) => {
    if (n?.type !== 'layer') return undefined;
    const count = Math.min(layerChannels(), n.layer.channels);
    return runLayer(n.path, n.model, n.layer, Array.from({ length: count }, (_, i) => i));
  });
  cmd('neuronLens.visualizeChannels', async (n?: LayerNode, preset?: string) => {
    if (n?.type !== 'layer') return undefined;
    const noun = unitNoun(n.layer);
    const input = preset ?? await vscode.window.showInputBox({
      title: `Visualize ${noun}s of ${n.layer.name}`,
      prompt: `${n.layer.channels} ${noun}s (0-${n.layer.channels - 1}): a range like 0-7, or a list like 3,5,9`,
      value: `0-${Math.min(layerChannels(), n.layer.channels) - 1}`,
      validateInput: (s) => { try { parseIndexList(s, n.layer.channels); return undefined; } catch (e) { return (e as Error).message; } },
    });
    if (!input) return undefined;
    return runLayer(n.path, n.model, n.layer, parseIndexList(input, n.layer.channels));
  });
  cmd('neuronLens.visualizeUnit', (n?: UnitNode) => {
    if (n?.type !== 'unit') return undefined;
    return runLayer(n.path, n.model, n.layer, [n.index]);
  });
  // Every unit kind the layer offers (from the engine's unit-kind registry), then the rest of the spec.
  cmd('neuronLens.visualizeAs', async (n?: LayerNode, preset?: { kind: string; spec: string }) => {
    if (n?.type !== 'layer') return undefined;
    const kinds = layerKinds(n.layer, n.model);
    const kind = preset ? kinds.find((k) => k.name === preset.kind) : (await vscode.window.showQuickPick(
      kinds.map((k) => ({ label: k.name, description: k.syntax, detail: `${k.description} — e.g. ${k.example}`, unitKind: k })),
      { title: `Visualize ${n.layer.name} as…`, placeHolder: 'The kind of unit', matchOnDescription: true, matchOnDetail: true },
    ))?.unitKind;
    if (!kind) return undefined;
    const ref = { path: n.path };
    const expand = (spec: string) => engine.request('units', { model: ref, units: [spec] }).result;
    const initial = specFromSyntax(kind.syntax, n.layer.name, `0-${Math.min(layerChannels(), n.layer.channels) - 1}`);
    const spec = preset?.spec ?? await vscode.window.showInputBox({
      title: `Visualize ${n.layer.name} as ${kind.name}`,
      prompt: `${kind.syntax}: ${kind.description} (e.g. ${kind.example})`,
      value: initial,
      validateInput: async (s) => { try { await expand(s.trim()); return undefined; } catch (e) { return (e as Error).message; } },
    });
    if (!spec) return undefined;
    const units = (await expand(spec.trim())).units;
    return run(n.path, units.map((u) => u.spec), units.map((u) => u.label));
  });
  cmd('neuronLens.compareParameterizations', (n?: UnitNode) => {
    if (n?.type !== 'unit') return undefined;
    return run(n.path, [unitSpec(n.layer, n.index, n.model)], [`${n.layer.name} ${unitLabel(n.layer, n.index, n.model)}`], true);
  });
  cmd('neuronLens.visualizeLayerByName', async (modelPath: string, layerName: string) => {
    const model = await store.load(modelPath);
    const layer = visualLayers(model).find((l) => l.name === layerName);
    if (!layer) {
      void vscode.window.showErrorMessage(`Neuron Lens: ${modelDisplayName(modelPath)} has no layer "${layerName}"`);
      return undefined;
    }
    const count = Math.min(layerChannels(), layer.channels);
    return runLayer(modelPath, model, layer, Array.from({ length: count }, (_, i) => i));
  });
  async function pickModel(): Promise<string | undefined> {
    const dir = context.asAbsolutePath('models');
    const examples = fs.existsSync(dir) ? fs.readdirSync(dir).map((n) => path.join(dir, n, 'model.json')).filter((p) => fs.existsSync(p)) : [];
    const paths = [...new Set([...store.list().map((e) => e.path), ...examples])];
    if (!paths.length) {
      void vscode.window.showErrorMessage('Neuron Lens: no models to attack; open a model.json first (Neuron Lens: Open Model…)');
      return undefined;
    }
    if (paths.length === 1) return paths[0];
    const picked = await vscode.window.showQuickPick(paths.map((p) => ({ label: modelDisplayName(p), description: vscode.workspace.asRelativePath(p), path: p })), { title: 'Attack: model', placeHolder: 'The model to fool' });
    return picked?.path;
  }

  async function pickTarget(model: LoadedModel): Promise<string | undefined> {
    const n = model.description.classes;
    if (!n) throw new Error(`${model.description.name} has no class output (no logits layer found): it cannot be attacked`);
    const items = Array.from({ length: n }, (_, i) => ({ label: model.classNames?.[i] ?? `class ${i}`, description: `class ${i}`, index: i }));
    const picked = await vscode.window.showQuickPick(items, { title: `Attack: target class of ${model.description.name}`, placeHolder: model.classNames ? 'Type a class name or "class N"' : 'No labels file next to the model: classes by index', matchOnDescription: true });
    return picked ? String(picked.index) : undefined;
  }

  /** Resolves a target (index or name) to the label the panel shows. */
  function targetLabel(model: LoadedModel, target: string): string {
    const i = /^\d+$/.test(target) ? Number(target) : model.classNames?.indexOf(target) ?? -1;
    return i >= 0 && model.classNames?.[i] ? model.classNames[i] : /^\d+$/.test(target) ? `class ${target}` : target;
  }

  cmd('neuronLens.attackImage', async (arg?: vscode.Uri | AttackImageArgs): Promise<AttackPanelState | undefined> => {
    const args: AttackImageArgs = arg instanceof vscode.Uri ? { image: arg.fsPath } : arg ?? {};
    try {
      const modelPath = args.model ?? await pickModel();
      if (!modelPath) return undefined;
      let image = args.image;
      if (!image) {
        const picked = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { Images: IMAGE_EXTENSIONS }, openLabel: 'Attack this image', title: 'Attack: image' });
        image = picked?.[0]?.fsPath;
      }
      if (!image) return undefined;
      if (!IMAGE_EXTENSIONS.includes(path.extname(image).slice(1).toLowerCase())) throw new Error(`${path.basename(image)} is not a PNG or JPEG image`);
      const model = await store.load(modelPath);
      const target = args.target !== undefined ? String(args.target) : await pickTarget(model);
      if (target === undefined) return undefined;
      const controls: AttackControls = {
        method: args.method ?? DEFAULT_ATTACK_CONTROLS.method,
        epsilon: args.epsilon ?? DEFAULT_ATTACK_CONTROLS.epsilon,
        tv: args.tv ?? DEFAULT_ATTACK_CONTROLS.tv,
        steps: args.steps ?? DEFAULT_ATTACK_CONTROLS.steps,
      };
      return await AttackPanel.show({ extensionUri: context.extensionUri, engine, log }, { modelPath, modelName: modelDisplayName(modelPath), image, target, targetLabel: targetLabel(model, target) }, controls);
    } catch (e) {
      const message = (e as Error).message;
      log.appendLine(`attack failed: ${message}`);
      if (!AttackPanel.current()?.panel.visible) void vscode.window.showErrorMessage(/Neuron Lens/.test(message) ? message : `Neuron Lens: ${message}`);
      return undefined;
    }
  });
  cmd('neuronLens.attackWithNeuronLens', (uri?: vscode.Uri) => (uri ? vscode.commands.executeCommand('neuronLens.attackImage', uri) : undefined));
  // The folder whose images the panel ranks under each visualization (neuronLens.exampleImages); open panels
  // show its examples at once. An argument (a folder path) skips the picker.
  cmd('neuronLens.chooseExampleImages', async (folder?: string) => {
    const picked = folder ?? (await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: 'Use these images', title: 'Example images: a folder of PNG/JPEG images (searched recursively)' }))?.[0]?.fsPath;
    if (!picked) return undefined;
    await vscode.workspace.getConfiguration('neuronLens').update('exampleImages', picked, vscode.ConfigurationTarget.Global);
    // A panel still running finds them when it ends.
    await Promise.all(VisualizationPanel.all().filter((p) => p.current.status !== 'running' && p.current.examples?.status !== 'running').map((p) => p.findExamples()));
    return picked;
  });
  cmd('neuronLens.showEngineLog', () => log.show());
  cmd('neuronLens.restartEngine', () => engine.restart('restarted by the user'));

  context.subscriptions.push(
    log, status, treeView, store, engine,
    vscode.languages.registerCodeLensProvider([{ scheme: 'file', language: 'python' }, { scheme: 'file', language: 'javascript' }, { scheme: 'file', language: 'typescript' }], codeLens),
    vscode.window.registerWebviewPanelSerializer(VIEW_TYPE, { deserializeWebviewPanel: async (panel, state) => VisualizationPanel.revive(deps, panel, state) }),
    vscode.window.registerWebviewPanelSerializer(ATTACK_VIEW_TYPE, { deserializeWebviewPanel: async (panel, state) => AttackPanel.revive({ extensionUri: context.extensionUri, engine, log }, panel, state) }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('neuronLens.backend')) engine.setBackend(backendSetting());
      if (e.affectsConfiguration('neuronLens.engineMemoryMB')) engine.setMemoryMB(engineMemoryMB());
      if (e.affectsConfiguration('neuronLens.loadTimeoutSeconds')) engine.setLoadTimeoutMs(loadTimeoutMs());
    }),
    // Trusting the workspace makes its models loadable: the tree drops the "untrusted" notes.
    vscode.workspace.onDidGrantWorkspaceTrust(() => store.refresh()),
  );
  void store.discover();
  return { engine, store, tree, codeLens, panels: () => VisualizationPanel.all(), attackPanel: () => AttackPanel.current() };
}

export function deactivate(): void {}
