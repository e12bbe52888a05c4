// The engine child process: runs src/core for the extension host, speaking the protocol in ./protocol.ts
// over the IPC channel. Jobs run one at a time in arrival order; every request gets exactly one response,
// and no exception escapes unanswered.
import * as fs from 'fs';
import * as path from 'path';
import { initBackend, type BackendInfo } from '../core/backend';
import { changedFiles, loadModel, type NLModel } from '../core/model';
import { encodePng } from '../core/image';
import { capabilities, describeJob, examples, ExamplesStopped, expandUnits, hashModel, readPhotos, runAttack, runVisualize } from '../core/jobs';
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
/** The loads in progress, by model file (what `cancel` reports). */
const loading = new Map<Promise<NLModel>, string>();

function modelKey(ref: ModelRef): string {
  return JSON.stringify([path.resolve(ref.path), ref.inputRange ?? null]);
}

/**
 * The model of `ref`, loaded once and served from the cache while its files are unchanged (size and modification
 * time): a model whose files changed is loaded again, and the old one disposed once the jobs queued before are done.
 */
async function getModel(ref: ModelRef): Promise<NLModel> {
  await requireBackend();
  const key = modelKey(ref);
  const cached = models.get(key);
  if (cached) {
    const old = await cached.catch(() => undefined);
    if (old && changedFiles(old.files).length > 0 && models.get(key) === cached) {
      models.delete(key);
      void enqueue(async () => old.dispose());
    }
  }
  let m = models.get(key);
  if (!m) {
    m = loadModel(ref.path, ref.inputRange ? { inputRange: ref.inputRange } : {});
    const load = m;
    loading.set(load, path.resolve(ref.path));
    const done = () => loading.delete(load);
    load.then(done, done);
    models.set(key, m);
    m.catch(() => models.delete(key));
  }
  return m;
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

const b64 = (png: Buffer) => png.toString('base64');

/** Abort controllers of running jobs that take an AbortSignal (examples), by request id. */
const aborts = new Map<number, AbortController>();

/** Runs a job in the queue, cancellable by its request id. */
async function job<T>(id: number, fn: (stopped: () => boolean) => Promise<T>): Promise<T> {
  active.add(id);
  try {
    return await enqueue(() => fn(() => cancelled.has(id)));
  } finally {
    active.delete(id);
    cancelled.delete(id);
  }
}

const handlers: { [M in Method]: (p: Params<M>, id: number) => Promise<Result<M>> } = {
  async init(p) {
    if (!backend) {
      backend = initBackend(p.backend);
      backend.catch(() => { backend = null; });
    }
    const b = await backend;
    return {
      name: b.name, reason: b.reason, threads: b.threads, device: b.device, ...(b.native ? { native: b.native } : {}),
      capabilities: capabilities(),
    };
  },
  async loadModel(p) {
    const m = await getModel(p);
    return { description: describeJob(m), unitKinds: capabilities().unitKinds, hash: hashModel(m), classNames: m.classNames };
  },
  async describe(p) {
    return describeJob(await getModel(p));
  },
  async units(p) {
    return { units: expandUnits(await getModel(p.model), p.units) };
  },
  visualize: (p, id) => job(id, async (stopped) => {
    const b = await requireBackend();
    const model = await getModel(p.model);
    if (stopped()) return { units: [], msPerStep: 0, cancelled: true, backend: b.name };
    const r = await runVisualize(model, {
      units: p.units, settings: p.settings, previewEvery: p.previewEvery, shouldStop: stopped,
      onProgress: (pr) => send({
        kind: 'progress', id, step: pr.step, steps: pr.steps, chunk: pr.chunk, chunks: pr.chunks, unitIndexes: pr.unitIndexes,
        msPerStep: pr.msPerStep, etaMs: pr.etaMs, ...(pr.preview ? { previews: pr.preview.map((img) => b64(encodePng(img))) } : {}),
      }),
    });
    return {
      units: r.units.map((u) => ({
        spec: u.spec, label: u.label, png: b64(u.png), activation: u.activation, steps: u.steps,
        ...(u.importancePng ? { importancePng: b64(u.importancePng) } : {}), ...(u.copy !== undefined ? { copy: u.copy } : {}),
      })),
      msPerStep: r.msPerStep,
      cancelled: r.cancelled,
      backend: b.name,
    };
  }),
  attack: (p, id) => job(id, async (stopped) => {
    const model = await getModel(p.model);
    const photos = readPhotos(p.images);
    if (stopped()) return { pairs: [], msPerStep: 0, stepsRun: 0, cancelled: true };
    const r = await runAttack(model, {
      photos, targets: p.targets, settings: p.settings, shouldStop: stopped,
      onProgress: (pr) => send({ kind: 'progress', id, step: pr.step, steps: pr.steps, chunk: 0, chunks: 1, unitIndexes: [], msPerStep: pr.msPerStep, etaMs: pr.etaMs }),
    });
    return {
      pairs: r.pairs.map(({ png, folder: _f, imageNote: _n, ...pair }) => ({ ...pair, original: b64(png.original), adversarial: b64(png.adversarial), perturbation: b64(png.perturbation) })),
      msPerStep: r.run.msPerStep,
      stepsRun: r.run.stepsRun,
      cancelled: r.run.cancelled,
    };
  }),
  examples: (p, id) => job(id, async (stopped) => {
    const model = await getModel(p.model);
    if (stopped()) return { units: [], cancelled: true };
    const ac = new AbortController();
    aborts.set(id, ac);
    try {
      const r = await examples(model, {
        ...p.settings, images: p.images, units: p.units, out: p.out, signal: ac.signal,
        onProgress: (pr) => send({ kind: 'progress', id, step: pr.done, steps: pr.total, chunk: 0, chunks: 1, unitIndexes: [], msPerStep: 0, etaMs: (pr.etaSeconds ?? 0) * 1000 }),
        onWarning: (m) => log('warn', m),
      });
      const hit = (h: (typeof r)[number]['top'][number]) => ({ image: h.image, activation: h.activation, box: h.box, heatmapPng: b64(fs.readFileSync(path.join(p.out, h.heatmap))) });
      return { units: r.map((u) => ({ unit: u.unit, label: u.label, statistic: u.statistic, top: u.top.map(hit), bottom: u.bottom.map(hit) })), cancelled: false };
    } catch (e) {
      if (e instanceof ExamplesStopped) return { units: [], cancelled: true };
      throw e;
    } finally {
      aborts.delete(id);
    }
  }),
  async cancel(p) {
    const found = active.has(p.jobId);
    if (found) cancelled.add(p.jobId);
    aborts.get(p.jobId)?.abort();
    return { found, loading: [...new Set(loading.values())] };
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
