// The atlas on a work queue: BullMQ on Redis. The producer enqueues one job per batch of units that is not
// done yet and waits for them; workers on any number of machines pull jobs, load each model once, run the
// batch and write its files to the shared output folder. BullMQ does the distributed part: retries
// (`attempts`), stalled-job detection (a worker that dies loses its lock; another worker's stalled check
// puts the job back), and progress events (QueueEvents). Exactly-once in the index comes from the files:
// a unit's JSON is written last and atomically, a job skips units already done, and the index is built
// from the plan's unit list.
import { Queue, QueueEvents, Worker, type Job, type ConnectionOptions } from 'bullmq';
import { loadModel } from '../model';
import type { NLModel } from '../model/types';
import {
  atlasModelHash, planAtlas, runAtlasBatch, runAtlasExamples, shardBatches, unitDone, writeAtlasIndex, writePlan,
  type AtlasPlan, type AtlasProgress, type AtlasRequest, type AtlasUnit,
} from './atlas';
import type { VisualizeSettings } from './visualize';

/** The one queue every atlas producer and worker uses (jobs carry everything they need). */
export const ATLAS_QUEUE = 'neuron-lens-atlas';

/** What a job carries: a batch of units and all it takes to run them on another machine. */
export interface AtlasJobData {
  /** The atlas folder (on the shared file system). */
  out: string;
  /** The model file, by the path every worker sees (shared file system). */
  model: string;
  inputRange?: [number, number];
  /** Content hash and input mapping the units' keys were made with: a worker's model must match. */
  hash: string;
  preprocess: string;
  settings: VisualizeSettings;
  params: string[];
  units: AtlasUnit[];
}

/** `redis://[:password@]host:port[/db]` as BullMQ connection options. */
export function redisConnection(url: string): ConnectionOptions {
  let u: URL;
  try { u = new URL(url); } catch { throw new Error(`bad --queue "${url}": expected redis://HOST:PORT`); }
  if (u.protocol !== 'redis:' || !u.hostname) throw new Error(`bad --queue "${url}": expected redis://HOST:PORT`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new Error(`bad --queue "${url}": the database after the port must be a number`);
  return {
    host: u.hostname, port: u.port ? Number(u.port) : 6379, db,
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    // Workers block on Redis; BullMQ requires unlimited retries per request for them.
    maxRetriesPerRequest: null,
  };
}

export interface QueuedAtlasOptions {
  out: string;
  queue: string;
  /** As given to loadModel (workers load the model the same way). */
  inputRange?: [number, number];
  /** BullMQ attempts per job for errors thrown by a worker (default 3). */
  attempts?: number;
  onProgress?: (p: AtlasProgress & { active: number }) => void;
  /** The dataset examples pass (run here while the workers run the batches): images indexed so far. */
  onExamples?: (done: number, total: number) => void;
}

export interface QueuedAtlasRun {
  plan: AtlasPlan;
  /** Jobs enqueued, units found done before. */
  jobs: number;
  skipped: number;
  index: string;
  seconds: number;
}

/**
 * Enqueues the atlas's unfinished batches, waits for the workers to finish them (showing progress from
 * their events), then writes the index.
 */
export async function runAtlasQueued(model: NLModel, req: AtlasRequest, opts: QueuedAtlasOptions): Promise<QueuedAtlasRun> {
  const t0 = Date.now();
  const plan = planAtlas(model, req);
  writePlan(opts.out, plan);
  const connection = redisConnection(opts.queue);
  const queue = new Queue<AtlasJobData>(ATLAS_QUEUE, { connection });
  const events = new QueueEvents(ATLAS_QUEUE, { connection });
  const total = plan.units.length;
  const skipped = plan.units.filter((u) => unitDone(opts.out, u)).length;
  let finished = skipped;
  const partial = new Map<string, number>();
  const report = (step = 0, steps = 0, ms = 0) => opts.onProgress?.({
    done: finished, total, step, steps, msPerStep: ms, active: [...partial.values()].reduce((a, b) => a + b, 0),
  });
  try {
    await events.waitUntilReady();
    const batches = shardBatches(plan).map((k) => plan.batches[k].map((i) => plan.units[i])).filter((us) => us.some((u) => !unitDone(opts.out, u)));
    const base = {
      out: opts.out, model: model.source, ...(opts.inputRange ? { inputRange: opts.inputRange } : {}),
      hash: plan.model.hash, preprocess: model.preprocess.describe, settings: plan.settings, params: plan.params,
    };
    const jobs = await queue.addBulk(batches.map((units) => ({
      name: 'batch', data: { ...base, units },
      opts: { attempts: opts.attempts ?? 3, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: { age: 3600 }, removeOnFail: { age: 7 * 86400 } },
    })));
    const sizes = new Map(jobs.map((j, k) => [j.id!, batches[k].length]));
    events.on('progress', ({ jobId, data }) => {
      const n = sizes.get(jobId);
      if (n === undefined || typeof data !== 'object' || data === null) return;
      const { step, steps, msPerStep } = data as { step: number; steps: number; msPerStep: number };
      partial.set(jobId, (n * step) / steps);
      report(step, steps, msPerStep);
    });
    report();
    // The examples pass runs here meanwhile (its steps yield, so progress events still arrive).
    await runAtlasExamples(model, plan, opts.out, { onProgress: opts.onExamples });
    await Promise.all(jobs.map(async (j) => {
      try {
        await j.waitUntilFinished(events);
      } catch (e) {
        throw new Error(`job ${j.id} (${batches[jobs.indexOf(j)][0].unit}, ...) failed on every attempt: ${(e as Error).message}`);
      }
      partial.delete(j.id!);
      finished += sizes.get(j.id!)!;
      report();
    }));
    const index = writeAtlasIndex(opts.out);
    return { plan, jobs: jobs.length, skipped, index, seconds: (Date.now() - t0) / 1000 };
  } finally {
    await events.close();
    await queue.close();
  }
}

export interface AtlasWorkerOptions {
  queue: string;
  /**
   * A job's lock lasts this long (renewed at half of it while the job runs) and every worker checks for
   * stalled jobs this often: a worker killed mid-job has its job run elsewhere within about twice this.
   * Default 30000 (BullMQ's).
   */
  stalledMs?: number;
  onEvent?: (line: string) => void;
}

/** Starts a worker: it runs atlas jobs until closed. Models stay loaded between jobs. */
export function startAtlasWorker(opts: AtlasWorkerOptions): { worker: Worker<AtlasJobData>; close: () => Promise<void> } {
  const models = new Map<string, Promise<{ model: NLModel; hash: string }>>();
  const log = opts.onEvent ?? (() => {});
  const stalledMs = opts.stalledMs ?? 30000;
  const worker = new Worker<AtlasJobData>(ATLAS_QUEUE, async (job: Job<AtlasJobData>) => {
    const d = job.data;
    const id = JSON.stringify([d.model, d.inputRange ?? null]);
    if (!models.has(id)) {
      models.set(id, loadModel(d.model, d.inputRange ? { inputRange: d.inputRange } : {}).then((model) => ({ model, hash: atlasModelHash(model) })));
    }
    const { model, hash } = await models.get(id)!;
    if (hash !== d.hash || model.preprocess.describe !== d.preprocess) {
      throw new Error(`the model at ${d.model} on this worker is not the one the atlas was planned with (content hash or input range differ): is the file system shared and the file unchanged?`);
    }
    const t = Date.now();
    log(`job ${job.id} (attempt ${job.attemptsStarted}): ${d.units.length} units from ${d.units[0].unit}`);
    let last = 0;
    const r = await runAtlasBatch(model, d, d.units.map((_, i) => i), d.out, {
      onStep: (step, steps, msPerStep) => {
        if (Date.now() - last < 250 && step < steps) return;
        last = Date.now();
        job.updateProgress({ step, steps, msPerStep }).catch(() => {});
      },
    });
    log(`job ${job.id}: ran ${r.ran} units (${d.units.length - r.ran} already done) in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    return { ran: r.ran };
  }, {
    connection: redisConnection(opts.queue), concurrency: 1,
    lockDuration: stalledMs, stalledInterval: stalledMs, maxStalledCount: 3,
  });
  worker.on('failed', (job, e) => log(`job ${job?.id} failed: ${e.message}`));
  worker.on('error', (e) => log(`worker error: ${e.message}`));
  return {
    worker,
    close: async () => {
      await worker.close();
      for (const m of models.values()) (await m).model.dispose();
    },
  };
}
