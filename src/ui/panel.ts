// The visualization panel: a webview beside the model's source that shows live previews while the
// engine optimizes, then the grid of units with their final activations. One panel per model.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { WebviewPanelBase } from './webviewHtml';
import { isCancelled, type EngineClient } from '../engine/client';
import type { UnitImage, VisualizeSettings } from '../engine/protocol';
import { decodeImage, encodePng } from '../core/image/codec';
import { makeGrid } from '../core/image/grid';
import type { ResultCache } from './cache';
import type { ModelStore } from './models';
import { exampleImages, previewEvery } from './settings';
import { FromWebview, PanelState, type Cell, type ToWebview } from './webviewProtocol';

export const VIEW_TYPE = 'neuronLens.visualization';

export interface PanelDeps {
  extensionUri: vscode.Uri;
  engine: EngineClient;
  store: ModelStore;
  cache: ResultCache;
  log: vscode.OutputChannel;
  /** Where dataset examples and their index go: a folder per example-image folder inside it. */
  examplesDir: string;
}

export interface VisualizeTarget {
  modelPath: string;
  modelName: string;
  /** Single-unit specs (one cell each); with `compare`, exactly one. */
  units: string[];
  compare: boolean;
  /** Labels for the cells before results arrive. */
  labels?: string[];
}

export interface RunOutcome {
  state: PanelState;
  /** Cells that came from the result cache. */
  fromCache: number;
}

/** The editor column of an open editor showing the model's source (its model file, or code naming it). */
function sourceColumn(modelPath: string): vscode.TextEditor | undefined {
  const named = path.basename(modelPath) === 'model.json' ? `${path.basename(path.dirname(modelPath))}/model.json` : path.basename(modelPath);
  const editors = vscode.window.visibleTextEditors;
  return editors.find((e) => e.document.uri.fsPath === modelPath)
    ?? editors.find((e) => e.document.uri.scheme === 'file' && e.document.getText().includes(named));
}

/** 42 s, 3 min 5 s, 2 h 10 min. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export class VisualizationPanel extends WebviewPanelBase<PanelState, ToWebview, FromWebview> {
  private static readonly panels = new Map<string, VisualizationPanel>();
  private jobIds: number[] = [];
  private cancelRequested = false;
  /** The model whose load the current run waits for. */
  private loadingModel: string | null = null;
  private running: Promise<RunOutcome> | null = null;

  static get(modelPath: string): VisualizationPanel | undefined {
    return VisualizationPanel.panels.get(modelPath);
  }

  static all(): VisualizationPanel[] {
    return [...VisualizationPanel.panels.values()];
  }

  /** Opens (or reuses) the model's panel beside its source and runs the target. */
  static async show(deps: PanelDeps, target: VisualizeTarget, settings: VisualizeSettings): Promise<RunOutcome> {
    let p = VisualizationPanel.panels.get(target.modelPath);
    if (!p) {
      const source = sourceColumn(target.modelPath);
      if (source && source !== vscode.window.activeTextEditor) await vscode.window.showTextDocument(source.document, { viewColumn: source.viewColumn, preserveFocus: false });
      const panel = vscode.window.createWebviewPanel(VIEW_TYPE, `Neuron Lens: ${target.modelName}`, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, VisualizationPanel.options(deps.extensionUri));
      p = new VisualizationPanel(deps, panel, VisualizationPanel.initialState(target, settings));
    } else {
      p.panel.reveal(undefined, true);
    }
    return p.run(target, settings);
  }

  /** Revives a panel after a reload from the state its webview saved. */
  static revive(deps: PanelDeps, panel: vscode.WebviewPanel, saved: unknown): void {
    const r = PanelState.safeParse(saved);
    if (!r.success) {
      panel.webview.html = `<!DOCTYPE html><html><body><p>This Neuron Lens panel could not be restored. Visualize again from the Models view.</p></body></html>`;
      return;
    }
    const state = r.data.status === 'running' ? { ...r.data, status: 'cancelled' as const, message: 'Interrupted by a reload; run again to finish.' } : r.data;
    panel.webview.options = VisualizationPanel.options(deps.extensionUri);
    new VisualizationPanel(deps, panel, state);
  }

  static options(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')] };
  }

  private static initialState(t: VisualizeTarget, settings: VisualizeSettings): PanelState {
    return { modelPath: t.modelPath, modelName: t.modelName, units: t.units, settings, params: [], compare: t.compare, cells: [], status: 'idle' };
  }

  private constructor(private readonly deps: PanelDeps, panel: vscode.WebviewPanel, state: PanelState) {
    super(panel, deps, state, { title: 'Neuron Lens', script: 'webview.js', styles: ['webview.css'] }, FromWebview);
    VisualizationPanel.panels.set(state.modelPath, this);
  }

  protected handle(m: FromWebview): void {
    switch (m.type) {
      case 'ready': this.post({ type: 'state', state: this.state }); break;
      case 'cancel': void this.cancel(); break;
      case 'run': void this.rerun(m.settings); break;
      case 'compare': {
        const cell = this.state.cells[m.index];
        if (cell) void this.run({ modelPath: this.state.modelPath, modelName: this.state.modelName, units: [cell.spec], compare: true, labels: [cell.label] }, m.settings).catch(() => undefined);
        break;
      }
      case 'saveGrid': void this.saveGrid(); break;
      case 'savePngs': void this.savePngs(); break;
    }
  }

  private rerun(settings: VisualizeSettings): Promise<RunOutcome | void> {
    const s = this.state;
    const units = s.compare ? [s.units[0]] : s.units;
    const labels = s.compare ? [s.cells[0]?.label ?? s.units[0]] : s.units.map((u, i) => s.cells[i]?.label ?? u);
    return this.run({ modelPath: s.modelPath, modelName: s.modelName, units, labels, compare: s.compare }, settings).catch(() => undefined);
  }

  /** Cancels the running job(s) after their current step (they finish with what exists), or the model's load. */
  async cancel(): Promise<void> {
    this.cancelRequested = true;
    const load = this.loadingModel ? [this.deps.store.cancelLoad(this.loadingModel)] : [];
    await Promise.all([...load, ...this.jobIds.map((id) => this.deps.engine.cancel(id))].map((c) => c.catch(() => false)));
  }

  /** Resolves when the current run (if any) has ended. */
  async idle(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  async run(target: VisualizeTarget, settings: VisualizeSettings): Promise<RunOutcome> {
    if (this.running) {
      await this.cancel();
      await this.idle();
    }
    const p = this.doRun(target, settings);
    this.running = p;
    try {
      return await p;
    } finally {
      if (this.running === p) this.running = null;
    }
  }

  private async doRun(target: VisualizeTarget, settings: VisualizeSettings): Promise<RunOutcome> {
    this.cancelRequested = false;
    this.jobIds = [];
    const placeholder = (spec: string, label: string, tag?: string): Cell => ({ spec, label, png: '', activation: null, steps: 0, ...(tag ? { tag } : {}) });
    let cells: Cell[] = target.units.map((spec, i) => placeholder(spec, target.labels?.[i] ?? spec));
    this.panel.title = `Neuron Lens: ${target.modelName}`;
    this.setState({ modelPath: target.modelPath, modelName: target.modelName, units: target.units, settings, compare: target.compare, cells, status: 'running', message: undefined });
    let fromCache = 0;
    try {
      // The parameterizations the engine registers: the select's options, and a comparison's columns.
      const params = (await this.deps.engine.start()).capabilities.params;
      const runs: { param: string; spec: string; label: string; tag?: string }[] = target.compare
        ? params.map(({ name }) => ({ param: name, spec: target.units[0], label: target.labels?.[0] ?? target.units[0], tag: name }))
        : target.units.map((spec, i) => ({ param: settings.param, spec, label: target.labels?.[i] ?? spec }));
      cells = runs.map((r) => placeholder(r.spec, r.label, r.tag));
      this.setState({ params, cells });
      this.loadingModel = target.modelPath;
      const model = await this.deps.store.load(target.modelPath).finally(() => { this.loadingModel = null; });
      // Group the cells that still need work by parameterization (a comparison: one group per parameterization).
      const todo = new Map<string, number[]>();
      runs.forEach((r, i) => {
        const s = { ...settings, param: r.param };
        const hit = this.deps.cache.get(this.deps.cache.key(model.hash, r.spec, s));
        if (hit) {
          cells[i] = { ...cells[i], ...hit, label: hit.label, ...(r.tag ? { tag: r.tag } : {}) };
          fromCache++;
        } else {
          todo.set(r.param, [...(todo.get(r.param) ?? []), i]);
        }
      });
      this.setState({ cells: [...cells] });
      const totalSteps = [...todo.values()].reduce((a, idx) => a + Math.ceil(idx.length / settings.batch) * settings.steps, 0);
      let doneBefore = 0;
      let cancelled = false;
      let msPerStep = 0;
      if (totalSteps > 0) {
        await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: `Neuron Lens: ${target.modelName}`, cancellable: true },
          async (progress, token) => {
            token.onCancellationRequested(() => void this.cancel());
            let reported = 0;
            for (const [param, idx] of todo) {
              if (this.cancelRequested) { cancelled = true; break; }
              const s = { ...settings, param };
              const chunkSteps = Math.ceil(idx.length / settings.batch) * settings.steps;
              const job = this.deps.engine.visualize(
                { model: { path: target.modelPath }, units: idx.map((i) => runs[i].spec), settings: s, previewEvery: previewEvery() },
                (pr) => {
                  const done = doneBefore + pr.chunk * pr.steps + pr.step;
                  const fraction = Math.min(1, done / totalSteps);
                  const text = `${param} · step ${pr.step}/${pr.steps}${pr.chunks > 1 ? ` · batch ${pr.chunk + 1}/${pr.chunks}` : ''} · ${pr.msPerStep.toFixed(0)} ms/step · ${formatDuration(pr.etaMs)} left`;
                  progress.report({ message: text, increment: fraction * 100 - reported });
                  reported = fraction * 100;
                  const previews = pr.previews?.map((png, k) => ({ index: idx[pr.unitIndexes[k]], png }));
                  if (previews) {
                    for (const pv of previews) cells[pv.index] = { ...cells[pv.index], png: pv.png, steps: pr.step };
                    this.state = { ...this.state, cells: [...cells] };
                  }
                  this.post({ type: 'progress', fraction, text, ...(previews ? { previews } : {}) });
                },
              );
              this.jobIds.push(job.id);
              const r = await job.result;
              msPerStep = r.msPerStep;
              doneBefore += chunkSteps;
              r.units.forEach((u: UnitImage, k) => {
                const i = idx[k];
                cells[i] = { ...cells[i], png: u.png, activation: u.activation, steps: u.steps, label: u.label, ...(u.importancePng ? { importancePng: u.importancePng } : {}) };
                if (!r.cancelled) this.deps.cache.set(this.deps.cache.key(model.hash, runs[i].spec, s), u);
              });
              if (r.cancelled) { cancelled = true; break; }
            }
          },
        );
      }
      const speed = msPerStep ? ` · ${msPerStep.toFixed(0)} ms/step` : '';
      const cached = fromCache ? ` · ${fromCache} from cache` : '';
      this.setState({
        cells: [...cells],
        status: cancelled ? 'cancelled' : 'done',
        message: cancelled ? `Cancelled at step ${Math.max(0, ...cells.map((c) => c.steps))}: showing the images so far${cached}` : `Done${speed}${cached}`,
      });
      if (!cancelled) await this.findExamples();
      return { state: this.state, fromCache };
    } catch (e) {
      const message = (e as Error).message;
      if (isCancelled(e)) {
        this.setState({ cells: [...cells], status: 'cancelled', message });
        return { state: this.state, fromCache };
      }
      this.setState({ cells: [...cells], status: 'error', message });
      // The panel shows the error; a notification too when the panel is out of sight.
      if (!this.panel.visible) void vscode.window.showErrorMessage(/Neuron Lens/.test(message) ? message : `Neuron Lens: ${message}`);
      throw e;
    } finally {
      this.jobIds = [];
    }
  }

  /**
   * Shows under each image the dataset examples of its unit from the example folder (neuronLens.exampleImages),
   * when one is set: found by the engine, whose index of the folder (one per folder, in examplesDir) makes
   * later units of the same layers quick. A failure is shown in the panel; the visualization stands.
   */
  async findExamples(): Promise<void> {
    const folder = exampleImages();
    const specs = [...new Set(this.state.cells.filter((c) => c.png).map((c) => c.spec))];
    if (!folder || !specs.length) return;
    const out = path.join(this.deps.examplesDir, crypto.createHash('sha256').update(path.resolve(folder)).digest('hex').slice(0, 16));
    this.setState({ examples: { folder, status: 'running', message: `Finding dataset examples in ${folder}…` } });
    try {
      const job = this.deps.engine.request('examples', { model: { path: this.state.modelPath }, images: folder, units: specs, settings: {}, out }, (pr) => {
        const text = `Dataset examples: ${pr.step}/${pr.steps} images indexed${pr.step ? ` · ${formatDuration(pr.etaMs)} left` : ''}`;
        this.post({ type: 'progress', fraction: pr.steps ? pr.step / pr.steps : 0, text });
      });
      this.jobIds.push(job.id);
      const r = await job.result;
      // One unit per spec (the cells are single units), in order.
      const bySpec = new Map(r.units.length === specs.length ? specs.map((sp, i) => [sp, r.units[i]] as const) : []);
      const cells = this.state.cells.map((c) => {
        const u = bySpec.get(c.spec);
        return u ? { ...c, examples: u.top.map((hit) => ({ image: hit.image, activation: hit.activation, png: hit.heatmapPng })) } : c;
      });
      const message = r.cancelled ? 'Dataset examples cancelled; the images indexed so far are kept for the next run' : `Dataset examples from ${folder}`;
      this.setState({ cells, examples: { folder, status: r.cancelled ? 'cancelled' : 'done', message } });
    } catch (e) {
      this.deps.log.appendLine(`dataset examples failed: ${(e as Error).message}`);
      this.setState({ examples: { folder, status: 'error', message: `Dataset examples: ${(e as Error).message}` } });
    }
  }

  private async saveGrid(): Promise<void> {
    const cells = this.state.cells.filter((c) => c.png);
    if (!cells.length) return;
    const uri = await vscode.window.showSaveDialog({ filters: { PNG: ['png'] }, defaultUri: vscode.Uri.file(path.join(path.dirname(this.state.modelPath), `${this.state.modelName}-grid.png`)) });
    if (!uri) return;
    const tiles = cells.map((c) => decodeImage(Buffer.from(c.png, 'base64'), c.label));
    const labels = cells.map((c) => `${c.tag ? `${c.tag} ` : ''}${c.label}${c.activation !== null ? ` ${c.activation.toFixed(2)}` : ''}`);
    fs.writeFileSync(uri.fsPath, encodePng(makeGrid(tiles, labels)));
    void vscode.window.showInformationMessage(`Neuron Lens: saved ${path.basename(uri.fsPath)}`);
  }

  private async savePngs(): Promise<void> {
    const cells = this.state.cells.filter((c) => c.png);
    if (!cells.length) return;
    const dirs = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Save PNGs here', defaultUri: vscode.Uri.file(path.dirname(this.state.modelPath)) });
    if (!dirs?.[0]) return;
    for (const c of cells) {
      const stem = `${c.spec.replace(/[^A-Za-z0-9_.-]+/g, '-')}${c.tag ? `-${c.tag}` : ''}`;
      fs.writeFileSync(path.join(dirs[0].fsPath, `${stem}.png`), Buffer.from(c.png, 'base64'));
      if (c.importancePng) fs.writeFileSync(path.join(dirs[0].fsPath, `${stem}-importance.png`), Buffer.from(c.importancePng, 'base64'));
    }
    void vscode.window.showInformationMessage(`Neuron Lens: saved ${cells.length} PNG${cells.length === 1 ? '' : 's'} to ${dirs[0].fsPath}`);
  }

  protected override dispose(): void {
    void this.cancel();
    if (VisualizationPanel.panels.get(this.state.modelPath) === this) VisualizationPanel.panels.delete(this.state.modelPath);
    super.dispose();
  }
}
