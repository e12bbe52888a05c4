// The models the user works with: model files discovered in the workspace (the kinds of core/model/formats.ts), models opened by command,
// and the embedded examples. Descriptions come from the engine (loaded lazily, when first needed).
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { EngineClient } from '../engine/client';
import type { LoadedModel } from '../engine/protocol';
import { modelFileGlob, modelFileKind } from '../core/model/formats';

export interface ModelEntry {
  path: string;
  /** How it got here: shown as the tree item's tooltip. */
  origin: 'workspace' | 'opened' | 'example';
}

const OPENED_KEY = 'neuronLens.openedModels';

/** Every model file kind the engine loads (core/model/formats.ts). */
export const MODEL_GLOB = modelFileGlob();

/** The name a model is shown by: the folder of a model.json or model.safetensors, else the file name. */
export function modelDisplayName(file: string): string {
  return ['model.json', 'model.safetensors'].includes(path.basename(file)) ? path.basename(path.dirname(file)) : path.basename(file);
}

/** A model file, judged by its name and a quick look at its first bytes (see MODEL_FILE_KINDS). */
export function looksLikeModel(file: string): boolean {
  const kind = modelFileKind(file);
  if (!kind) return false;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(64 * 1024);
      return kind.looksLike(buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)));
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false;
  }
}

export class ModelStore implements vscode.Disposable {
  private readonly entries = new Map<string, ModelEntry>();
  private readonly loaded = new Map<string, Promise<LoadedModel>>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private readonly disposables: vscode.Disposable[] = [this.changed];

  constructor(private readonly state: vscode.Memento, private readonly engine: EngineClient) {
    for (const p of state.get<string[]>(OPENED_KEY, [])) if (fs.existsSync(p)) this.entries.set(p, { path: p, origin: 'opened' });
    const watcher = vscode.workspace.createFileSystemWatcher(MODEL_GLOB);
    watcher.onDidCreate(() => void this.discover());
    watcher.onDidDelete((u) => { const e = this.entries.get(u.fsPath); if (e?.origin === 'workspace') this.remove(u.fsPath); });
    watcher.onDidChange((u) => { this.loaded.delete(u.fsPath); this.changed.fire(); });
    this.disposables.push(watcher);
  }

  list(): ModelEntry[] {
    return [...this.entries.values()].sort((a, b) => modelDisplayName(a.path).localeCompare(modelDisplayName(b.path)));
  }

  has(p: string): boolean {
    return this.entries.has(p);
  }

  /** Finds model files in the workspace folders. */
  async discover(): Promise<void> {
    const files = await vscode.workspace.findFiles(MODEL_GLOB, '**/node_modules/**', 200);
    let added = false;
    for (const f of files) {
      if (!this.entries.has(f.fsPath) && looksLikeModel(f.fsPath)) {
        this.entries.set(f.fsPath, { path: f.fsPath, origin: 'workspace' });
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
    this.loaded.delete(p);
    void this.state.update(OPENED_KEY, this.list().filter((x) => x.origin !== 'workspace').map((x) => x.path));
    this.changed.fire();
  }

  /** The engine's description of a model (loaded once per session and engine). */
  load(p: string): Promise<LoadedModel> {
    let l = this.loaded.get(p);
    if (!l) {
      l = this.engine.loadModel({ path: p });
      this.loaded.set(p, l);
      l.catch(() => this.loaded.delete(p));
    }
    return l;
  }

  refresh(): void {
    this.loaded.clear();
    this.changed.fire();
    void this.discover();
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
