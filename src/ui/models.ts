// The models the user works with: model files discovered in the workspace (the kinds of core/model/formats.ts), models opened by command,
// and the embedded examples. Listing a model reads no more than its first bytes; the engine loads it only
// when its tree node is expanded or a command uses it, and each model's load state (loading, loaded,
// failed) is its own: one bad file never affects another.
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { isCancelled, type EngineClient } from '../engine/client';
import type { LoadedModel } from '../engine/protocol';
import { modelFileGlob, modelFileKind } from '../core/model/formats';
import { readHead } from '../core/util/head';

export interface ModelEntry {
  path: string;
  /** How it got here: shown as the tree item's tooltip. */
  origin: 'workspace' | 'opened' | 'example';
}

/** A model's load in this session (none before it is first used). */
export type LoadState = { state: 'loading' } | { state: 'loaded'; model: LoadedModel } | { state: 'failed'; error: string };

const OPENED_KEY = 'neuronLens.openedModels';
/** A load still running after this long shows a notification with Cancel. */
const SLOW_LOAD_MS = 1500;

/** Every model file kind the engine loads (core/model/formats.ts). */
export const MODEL_GLOB = modelFileGlob();

/** The name a model is shown by: the folder of a model.json or model.safetensors, else the file name. */
export function modelDisplayName(file: string): string {
  return ['model.json', 'model.safetensors'].includes(path.basename(file)) ? path.basename(path.dirname(file)) : path.basename(file);
}

/** A model file, judged by its name and a look at its first bytes (see MODEL_FILE_KINDS); never blocks, and only regular files qualify. */
export async function looksLikeModel(file: string): Promise<boolean> {
  const kind = modelFileKind(file);
  if (!kind) return false;
  try {
    return kind.looksLike(await readHead(file, 64 * 1024));
  } catch {
    return false;
  }
}

export class ModelStore implements vscode.Disposable {
  private readonly entries = new Map<string, ModelEntry>();
  private readonly loads = new Map<string, { id: number; result: Promise<LoadedModel> }>();
  private readonly states = new Map<string, LoadState>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private readonly disposables: vscode.Disposable[] = [this.changed];

  /** `refusal`: why a model may not be loaded now (workspace trust), or undefined. */
  constructor(private readonly state: vscode.Memento, private readonly engine: EngineClient, readonly refusal: (file: string) => string | undefined) {
    for (const p of state.get<string[]>(OPENED_KEY, [])) if (fs.existsSync(p)) this.entries.set(p, { path: p, origin: 'opened' });
    const watcher = vscode.workspace.createFileSystemWatcher(MODEL_GLOB);
    watcher.onDidCreate(() => void this.discover());
    watcher.onDidDelete((u) => { const e = this.entries.get(u.fsPath); if (e?.origin === 'workspace') this.remove(u.fsPath); });
    watcher.onDidChange((u) => { this.forget(u.fsPath); this.changed.fire(); });
    this.disposables.push(watcher);
  }

  list(): ModelEntry[] {
    return [...this.entries.values()].sort((a, b) => modelDisplayName(a.path).localeCompare(modelDisplayName(b.path)));
  }

  has(p: string): boolean {
    return this.entries.has(p);
  }

  /** Where a model's load stands; undefined before it is first used. */
  status(p: string): LoadState | undefined {
    return this.states.get(p);
  }

  /** The models loaded so far (nothing is loaded to answer this). */
  loadedModels(): { path: string; model: LoadedModel }[] {
    return this.list().flatMap((e) => {
      const s = this.states.get(e.path);
      return s?.state === 'loaded' ? [{ path: e.path, model: s.model }] : [];
    });
  }

  /** Finds model files in the workspace folders (reading only their first bytes). */
  async discover(): Promise<void> {
    const files = await vscode.workspace.findFiles(MODEL_GLOB, '**/node_modules/**', 200);
    const fresh = files.map((f) => f.fsPath).filter((p) => !this.entries.has(p));
    const models = await Promise.all(fresh.map(async (p) => ((await looksLikeModel(p)) ? p : undefined)));
    let added = false;
    for (const p of models) {
      if (p && !this.entries.has(p)) {
        this.entries.set(p, { path: p, origin: 'workspace' });
        added = true;
      }
    }
    if (added) this.changed.fire();
  }

  add(p: string, origin: ModelEntry['origin']): ModelEntry {
    let e = this.entries.get(p);
    if (!e) {
      e = { path: p, origin };
      this.entries.set(p, e);
      if (origin !== 'workspace') void this.state.update(OPENED_KEY, this.list().filter((x) => x.origin !== 'workspace').map((x) => x.path));
      this.changed.fire();
    }
    return e;
  }

  remove(p: string): void {
    if (!this.entries.delete(p)) return;
    this.forget(p);
    void this.state.update(OPENED_KEY, this.list().filter((x) => x.origin !== 'workspace').map((x) => x.path));
    this.changed.fire();
  }

  /**
   * The engine's description of a model, loaded on first use (once per session and engine). A load that
   * runs long shows a notification whose Cancel stops it; a failure is this model's state alone.
   */
  load(p: string): Promise<LoadedModel> {
    const running = this.loads.get(p);
    if (running) return running.result;
    const job = this.engine.request('loadModel', { path: p });
    this.loads.set(p, job);
    this.setState(p, { state: 'loading' });
    const current = () => this.loads.get(p) === job;
    job.result.then(
      (model) => { if (current()) this.setState(p, { state: 'loaded', model }); },
      (e) => {
        if (!current()) return;
        this.loads.delete(p);
        if (isCancelled(e)) this.setState(p, undefined);
        else this.setState(p, { state: 'failed', error: (e as Error).message });
      },
    );
    const timer = setTimeout(() => {
      if (!current() || this.states.get(p)?.state !== 'loading') return;
      void vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Neuron Lens: loading ${modelDisplayName(p)}…`, cancellable: true },
        (_progress, token) => {
          token.onCancellationRequested(() => void this.cancelLoad(p));
          return job.result.catch(() => undefined);
        },
      );
    }, SLOW_LOAD_MS);
    void job.result.catch(() => undefined).then(() => clearTimeout(timer));
    return job.result;
  }

  /** Stops a model's load if one is running (the load then fails with a CancelledError). */
  cancelLoad(p: string): Promise<boolean> {
    const job = this.loads.get(p);
    return job && this.states.get(p)?.state === 'loading' ? this.engine.cancel(job.id) : Promise.resolve(false);
  }

  /** Forgets every load (the next use loads again) and looks for new model files. */
  refresh(): void {
    this.loads.clear();
    this.states.clear();
    this.changed.fire();
    void this.discover();
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }

  private forget(p: string): void {
    this.loads.delete(p);
    this.states.delete(p);
  }

  private setState(p: string, s: LoadState | undefined): void {
    if (s) this.states.set(p, s);
    else this.states.delete(p);
    this.changed.fire();
  }
}
