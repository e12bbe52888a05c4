// The models the user works with: model files discovered in the workspace (TF.js model.json, Keras .keras/.h5, ONNX,
// Hugging Face / timm model.safetensors), models opened by command,
// and the embedded examples. Descriptions come from the engine (loaded lazily, when first needed).
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { EngineClient } from '../engine/client';
import type { LoadedModel } from '../engine/protocol';

export interface ModelEntry {
  path: string;
  /** How it got here: shown as the tree item's tooltip. */
  origin: 'workspace' | 'opened' | 'example';
}

const OPENED_KEY = 'neuronLens.openedModels';

/** Every model file format the engine loads. */
export const MODEL_GLOB = '**/{model.json,*.keras,*.h5,*.onnx,model.safetensors}';

/** The name a model is shown by: the folder of a model.json or model.safetensors, else the file name. */
export function modelDisplayName(file: string): string {
  return ['model.json', 'model.safetensors'].includes(path.basename(file)) ? path.basename(path.dirname(file)) : path.basename(file);
}

/**
 * A model file, judged by a quick look at its first bytes: a TF.js model.json (layers or graph model) has a
 * "modelTopology", a .keras file is a zip, a .h5 file is HDF5; an .onnx file has no magic bytes to check.
 */
export function looksLikeModel(file: string): boolean {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(64 * 1024);
      const head = buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0));
      switch (path.extname(file).toLowerCase()) {
        case '.json': return head.toString('utf8').includes('"modelTopology"');
        case '.keras': return head.subarray(0, 2).toString('latin1') === 'PK';
        case '.h5': return head.subarray(0, 8).equals(Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]));
        case '.onnx': return head.length > 0;
        // safetensors: a u64 header length, then the JSON header; the model's config.json sits beside it
        case '.safetensors': return head.length > 8 && head[8] === 0x7b && fs.existsSync(path.join(path.dirname(file), 'config.json'));
        default: return false;
      }
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
