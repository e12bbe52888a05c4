// `neuron-lens atlas` and `neuron-lens worker`: thin shells over core/jobs/atlas (local runs, shards,
// merge) and core/jobs/atlasQueue (the BullMQ work queue).
import * as fs from 'fs';
import * as path from 'path';
import { parseInputRange } from '../core/model';
import { EXAMPLES_OPTIONS, parseShard, runAtlas, shardFromEnv, writeAtlasIndex, VISUALIZE_OPTIONS, type AtlasProgress, type AtlasRequest, type VisualizeSettings } from '../core/jobs';
import { runAtlasQueued, startAtlasWorker } from '../core/jobs/atlasQueue';
import { numberOption, openModel, optionLines, readOptions, readParams, startBackend, UsageError, withStopOnSigint, type Values } from './common';

export const ATLAS_USAGE = `  neuron-lens atlas <model> --layer L [--layer L2 ...] [--units SPEC ...] --out DIR [options]
  neuron-lens atlas --merge DIR
  neuron-lens worker --queue redis://HOST:PORT [--backend B] [--stalled-ms N]
`;

export const ATLAS_HELP = `Atlas options (every channel of each --layer, and any --units specs; the visualize options above apply):
  --layer L            a layer whose every channel is visualized (repeatable)
  --units SPEC         any unit spec, ranges allowed (repeatable)
  --images DIR         also each unit's dataset examples from this image folder (one pass for all units;
                       --top K, --bottom K as in examples), under DIR/examples
  --out DIR            the atlas folder (default out/atlas): units/<key>.json and PNGs, index.json, index.html.
                       Finished units are kept: a re-run (or a killed run run again) does only the rest
  --shard i/n          run batch slice i of n (0-based) and stop; then neuron-lens atlas --merge DIR
  --shards n           the shard index from JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or
                       SLURM_ARRAY_TASK_ID (Slurm array; its count from SLURM_ARRAY_TASK_COUNT without --shards)
  --merge DIR          write index.json and index.html from what the shards wrote
  --queue URL          enqueue the batches on BullMQ at redis://HOST:PORT and wait for workers
                       (neuron-lens worker --queue URL, any number, sharing the --out folder's file system)
  --stalled-ms N       worker: a killed worker's job runs elsewhere after about twice this (default 30000)

`;

function atlasRequest(values: Values): AtlasRequest {
  const params = readParams(values.param as string | undefined);
  const settings = readOptions(VISUALIZE_OPTIONS, values, ['param']) as Partial<VisualizeSettings>;
  const layers = values.layer as string[] | undefined;
  const units = values.units as string[] | undefined;
  if (!layers?.length && !units?.length) throw new UsageError('atlas needs at least one --layer L or --units SPEC');
  const images = values.images as string | undefined;
  const { top, bottom } = readOptions(EXAMPLES_OPTIONS, values, ['batch']) as { top?: number; bottom?: number };
  if (!images && (top !== undefined || bottom !== undefined)) throw new UsageError('--top and --bottom need --images DIR');
  if (images && !fs.existsSync(images)) throw new UsageError(`--images: the folder ${path.resolve(images)} does not exist`);
  return {
    layers, units, settings: { ...settings, ...(params?.length === 1 ? { param: params[0] } : {}) }, params,
    ...(images ? { examples: { images, top, bottom } } : {}),
  };
}

/** `dataset examples: 300/500 images`, a line per 10%. */
function examplesReporter(): (done: number, total: number) => void {
  let last = -1;
  return (done, total) => {
    const decile = total ? Math.floor((10 * done) / total) : 10;
    if (decile !== last) { last = decile; process.stderr.write(`dataset examples: ${done}/${total} images indexed\n`); }
  };
}

/** `units 12/96 (2.5 running) step 40/64 9 ms/step`: on a terminal one updating line, otherwise a line per unit done. */
function atlasReporter(): (p: AtlasProgress & { active?: number }) => void {
  const tty = process.stderr.isTTY;
  let lastDone = -1;
  return (p) => {
    const running = p.active ? ` (${p.active.toFixed(1)} running)` : '';
    const step = p.steps ? ` step ${p.step}/${p.steps} ${p.msPerStep.toFixed(0)} ms/step` : '';
    if (tty) process.stderr.write(`\runits ${p.done}/${p.total}${running}${step}\x1b[K${p.done === p.total ? '\n' : ''}`);
    else if (p.done !== lastDone) { lastDone = p.done; process.stderr.write(`units ${p.done}/${p.total}\n`); }
  };
}

export async function cmdAtlas(values: Values, positionals: string[]): Promise<void> {
  if (values.merge !== undefined) {
    if (positionals.length || values.layer || values.units) throw new UsageError('atlas --merge DIR takes no model, --layer or --units: it reads DIR/atlas.json');
    const html = writeAtlasIndex(path.resolve(values.merge as string));
    process.stderr.write(`wrote ${html} and index.json\n`);
    return;
  }
  if (positionals.length > 1) throw new UsageError('atlas takes at most one model path');
  const req = atlasRequest(values);
  const shards = numberOption('shards', values.shards, true);
  const shard = values.shard !== undefined ? parseShard(values.shard as string) : shardFromEnv(process.env, shards);
  if (shard && values.queue) throw new UsageError('--shard and --queue are two ways to split an atlas: give one');
  const out = path.resolve((values.out as string | undefined) ?? path.join('out', 'atlas'));
  await startBackend(values.backend as string | undefined);
  const inputRange = values['input-range'] as string | undefined;
  const model = await openModel(positionals[0], inputRange);
  try {
    if (values.queue) {
      const r = await runAtlasQueued(model, req, {
        out, queue: values.queue as string, ...(inputRange ? { inputRange: parseInputRange(inputRange) } : {}), onProgress: atlasReporter(), onExamples: examplesReporter(),
      });
      const units = r.plan.units.length - r.skipped;
      process.stderr.write(`${r.jobs} jobs, ${units} units in ${r.seconds.toFixed(1)} s (${(units / (r.seconds / 60)).toFixed(1)} units/min), ${r.skipped} already done; wrote ${r.index}\n`);
      return;
    }
    await withStopOnSigint(async (stopped) => {
      const t0 = Date.now();
      const r = await runAtlas(model, req, { out, shard, onProgress: atlasReporter(), onExamples: examplesReporter(), shouldStop: stopped });
      const s = (Date.now() - t0) / 1000;
      const head = `${r.ran} units in ${s.toFixed(1)} s, ${r.skipped} already done${shard ? ` (shard ${shard.index}/${shard.count})` : ''}`;
      if (r.index) process.stderr.write(`${head}; wrote ${r.index}\n`);
      else if (shard) process.stderr.write(`${head}; when every shard is done: neuron-lens atlas --merge ${out}\n`);
      else process.stderr.write(`${head}; stopped with ${r.missing} units to do: run the same command again to finish\n`);
    });
  } finally {
    model.dispose();
  }
}

export async function cmdWorker(values: Values, positionals: string[]): Promise<void> {
  if (positionals.length) throw new UsageError('worker takes no model: jobs name theirs');
  if (!values.queue) throw new UsageError('worker needs --queue redis://HOST:PORT');
  const stalledMs = numberOption('stalled-ms', values['stalled-ms'], true);
  if (stalledMs !== undefined && stalledMs < 100) throw new UsageError(`--stalled-ms must be >= 100, got ${stalledMs}`);
  await startBackend(values.backend as string | undefined);
  const w = startAtlasWorker({ queue: values.queue as string, stalledMs, onEvent: (line) => process.stderr.write(`${line}\n`) });
  process.stderr.write(`worker ${process.pid} waiting for atlas jobs on ${values.queue}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => { process.stderr.write('worker: finishing the current job, then stopping\n'); resolve(); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await w.close();
}
