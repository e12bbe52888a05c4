// The engine child process: runs src/core for the extension host, speaking the protocol in ./protocol.ts
// over the IPC channel. Jobs run one at a time in arrival order; every request gets exactly one response,
// and no exception escapes unanswered.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { initBackend, type BackendInfo, type BackendName } from '../core/backend';
import { loadModel, type NLModel } from '../core/model';
import { describeModel } from '../core/model/describe';
import { parseUnits } from '../core/render/objectives';
import { visualize } from '../core/render/visualize';
import { encodePng, fitToInput, readImage } from '../core/image';
import { attack, attackPairs } from '../core/attack';
import { resolveClass } from '../core/model/classes';
import {
  describeIssues, parseParams, Request, type EngineMessage, type Method, type ModelRef, type Params, type Result,
} from './protocol';

function send(m: EngineMessage): void {
  if (process.send && process.connected) process.send(m);
}

function log(level: 'info' | 'warn' | 'error', message: string): void {
  send({ kind: 'log', level, message });
}

let backend: Promise<BackendInfo> | null = null;

function requireBackend(): Promise<BackendInfo> {
  if (!backend) throw new Error('the engine was not initialised: send "init" first');
  return backend;
}

const models = new Map<string, Promise<NLModel>>();

function modelKey(ref: ModelRef): string {
  return JSON.stringify([path.resolve(ref.path), ref.inputRange ?? null]);
}

async function getModel(ref: ModelRef): Promise<NLModel> {
  await requireBackend();
  const key = modelKey(ref);
  let m = models.get(key);
  if (!m) {
    m = loadModel(ref.path, ref.inputRange ? { inputRange: ref.inputRange } : {});
    models.set(key, m);
    m.catch(() => models.delete(key));
  }
  return m;
}

/** sha256 over the model file, the weight files its manifest names, and the neuron-lens.json sidecar. */
function hashModel(file: string): string {
  const h = crypto.createHash('sha256');
  const text = fs.readFileSync(file);
  h.update(text);
  const dir = path.dirname(file);
  try {
    const json = JSON.parse(text.toString('utf8'));
    for (const group of Array.isArray(json.weightsManifest) ? json.weightsManifest : []) {
      for (const p of Array.isArray(group.paths) ? group.paths : []) {
        const f = path.resolve(dir, String(p));
        if (f.startsWith(dir + path.sep) && fs.existsSync(f)) h.update(fs.readFileSync(f));
      }
    }
  } catch {
    // not JSON: the file bytes alone identify it
  }
  const sidecar = path.join(dir, 'neuron-lens.json');
  if (fs.existsSync(sidecar)) h.update(fs.readFileSync(sidecar));
  return h.digest('hex');
}

/** Jobs cancelled by id (running or still queued). */
const cancelled = new Set<number>();
const active = new Set<number>();
let queue: Promise<unknown> = Promise.resolve();

/** Runs jobs one after another: TF.js state (memory, backend) is shared. */
function enqueue<T>(fn: () => Promise<T>): Promise<T> {
  const run = queue.then(fn, fn);
  queue = run.catch(() => undefined);
  return run;
}

const png64 = (img: Parameters<typeof encodePng>[0]) => encodePng(img).toString('base64');

const handlers: { [M in Method]: (p: Params<M>, id: number) => Promise<Result<M>> } = {
  async init(p) {
    if (!backend) {
      backend = initBackend(p.backend as BackendName | 'auto');
      backend.catch(() => { backend = null; });
    }
    const b = await backend;
    return { name: b.name, reason: b.reason, threads: b.threads, device: b.device, native: b.native };
  },
  async loadModel(p) {
    const m = await getModel(p);
    return { description: describeModel(m), hash: hashModel(m.source), classNames: m.classNames };
  },
  async describe(p) {
    return describeModel(await getModel(p));
  },
  async visualize(p, id) {
    active.add(id);
    try {
      return await enqueue(async () => {
        const b = await requireBackend();
        const model = await getModel(p.model);
        const units = parseUnits(model, p.units);
        if (cancelled.has(id)) return { units: [], msPerStep: 0, cancelled: true, backend: b.name };
        const s = p.settings;
        const r = await visualize(model, units, {
          param: s.param, steps: s.steps, size: s.size, lr: s.lr, seed: s.seed, transforms: s.transforms,
          ...(s.decay !== undefined ? { decay: s.decay } : {}), batch: s.batch, previewEvery: p.previewEvery,
          shouldStop: () => cancelled.has(id),
          onProgress: (pr) => send({
            kind: 'progress', id, step: pr.step, steps: pr.steps, chunk: pr.chunk, chunks: pr.chunks, unitIndexes: pr.unitIndexes,
            msPerStep: pr.msPerStep, etaMs: pr.etaMs, ...(pr.preview ? { previews: pr.preview.map(png64) } : {}),
          }),
        });
        return {
          units: r.units.map((u) => ({ spec: u.unit.spec, label: u.unit.label, png: png64(u.image), activation: u.activation, steps: u.steps })),
          msPerStep: r.msPerStep,
          cancelled: r.cancelled,
          backend: b.name,
        };
      });
    } finally {
      active.delete(id);
      cancelled.delete(id);
    }
  },
  async attack(p, id) {
    active.add(id);
    try {
      return await enqueue(async () => {
        const model = await getModel(p.model);
        const { height: H, width: W, channels: C } = model.input;
        const images = p.images.map((f) => fitToInput(readImage(path.resolve(f)), H, W, C).image);
        const targets = p.targets.map((t) => resolveClass(model, t.trim(), `target ${t}`));
        const pairs = attackPairs(images.length, targets.length);
        if (cancelled.has(id)) return { pairs: [], msPerStep: 0, stepsRun: 0, cancelled: true };
        const run = await attack(model, pairs.map(([i]) => images[i]), pairs.map(([, t]) => targets[t]), {
          ...p.settings,
          shouldStop: () => cancelled.has(id),
          onProgress: (pr) => send({ kind: 'progress', id, step: pr.step, steps: pr.steps, chunk: 0, chunks: 1, unitIndexes: [], msPerStep: pr.msPerStep, etaMs: pr.etaMs }),
        });
        return {
          pairs: run.results.map(({ original, adversarial, perturbation, ...r }) => ({
            ...r, image: path.resolve(p.images[pairs[r.pair][0]]), original: png64(original), adversarial: png64(adversarial), perturbation: png64(perturbation),
          })),
          msPerStep: run.msPerStep,
          stepsRun: run.stepsRun,
          cancelled: run.cancelled,
        };
      });
    } finally {
      active.delete(id);
      cancelled.delete(id);
    }
  },
  async cancel(p) {
    const found = active.has(p.jobId);
    if (found) cancelled.add(p.jobId);
    return { found };
  },
  async crash(p) {
    process.exit(p.code);
  },
};

function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (e && typeof e === 'object' && 'message' in e) return String((e as { message: unknown }).message);
  return String(e);
}

async function handle(raw: unknown): Promise<void> {
  const parsed = Request.safeParse(raw);
  if (!parsed.success) {
    const id = (raw as { id?: unknown })?.id;
    const message = `malformed request: ${describeIssues(parsed.error)}`;
    if (typeof id === 'number' && Number.isInteger(id)) send({ kind: 'response', id, ok: false, error: { message } });
    else log('error', message);
    return;
  }
  const { id, method } = parsed.data;
  try {
    const params = parseParams(method, parsed.data.params);
    const result = await (handlers[method] as (p: unknown, id: number) => Promise<unknown>)(params, id);
    send({ kind: 'response', id, ok: true, result });
  } catch (e) {
    send({ kind: 'response', id, ok: false, error: { message: errorMessage(e) } });
  }
}

if (!process.send) {
  process.stderr.write('the Neuron Lens engine runs as a child process of the editor (child_process.fork); it has no command line\n');
  process.exit(2);
}
process.on('message', (m) => { void handle(m); });
// The parent went away: nothing more to do.
process.on('disconnect', () => process.exit(0));
process.on('uncaughtException', (e) => log('error', `uncaught exception in the engine: ${errorMessage(e)}`));
process.on('unhandledRejection', (e) => log('error', `unhandled rejection in the engine: ${errorMessage(e)}`));
