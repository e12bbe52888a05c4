// `neuron-lens examples`: the dataset images that activate units most, a thin shell over core/jobs.
import * as fs from 'fs';
import * as path from 'path';
import { examples, EXAMPLES_OPTIONS, formatActivation, type ExamplesOptions } from '../core/jobs';
import { openModel, optionLines, readOptions, startBackend, UsageError, type Values } from './common';

export const EXAMPLES_USAGE = '  neuron-lens examples [<model>] --images DIR --unit SPEC [--unit SPEC ...] [--top K] [--bottom K] [--out DIR]\n';

export const EXAMPLES_HELP = `Examples options (channel and direction units rank by their mean over space, as the objective; neuron
units by the channel's maximum over space; logits by their value):
  --images DIR         folder of PNG/JPEG images, searched recursively; each is centre-cropped and resized
                       to the model input
${optionLines(EXAMPLES_OPTIONS)}
  --out DIR            output folder (default out/examples): <unit>/top-01-heatmap.png (the unit's map over the
                       image, the receptive field boxed), <unit>/top-01-crop.png, examples.json, and index/:
                       per image and layer each channel's max and mean, so other units of the same layers
                       need no second pass, and Ctrl-C keeps what is done (a re-run resumes)
  --json               print examples.json to stdout

`;

export async function cmdExamples(values: Values, positionals: string[]): Promise<void> {
  if (positionals.length > 1) throw new UsageError('examples takes at most one model path');
  const images = values.images as string | undefined;
  if (!images) throw new UsageError('examples needs --images DIR (a folder of PNG or JPEG images)');
  const units = values.unit as string[] | undefined;
  if (!units?.length) throw new UsageError('examples needs at least one --unit (e.g. --unit channel:<layer>:0-7)');
  const settings = readOptions(EXAMPLES_OPTIONS, values) as Pick<ExamplesOptions, 'top' | 'bottom' | 'batch'>;
  if (!fs.existsSync(images)) throw new UsageError(`--images: the folder ${path.resolve(images)} does not exist`);
  const out = path.resolve((values.out as string | undefined) ?? path.join('out', 'examples'));
  await startBackend(values.backend as string | undefined);
  const model = await openModel(positionals[0], values['input-range'] as string | undefined);
  const ac = new AbortController();
  const onSigint = () => {
    if (ac.signal.aborted) process.exit(130);
    ac.abort();
    process.stderr.write('\nstopping after the current batch (Ctrl-C again to quit now)\n');
  };
  process.on('SIGINT', onSigint);
  try {
    const started = Date.now();
    const r = await examples(model, {
      ...settings, images, units, out, signal: ac.signal, onProgress: progressLine(),
      onWarning: (m) => process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}warning: ${m}\n`),
    });
    if (values.json) process.stdout.write(fs.readFileSync(path.join(out, 'examples.json'), 'utf8'));
    for (const u of r) {
      const list = (hs: typeof u.top) => hs.map((h) => `${h.image} ${formatActivation(h.activation)}`).join(', ');
      process.stderr.write(`${u.label} (${u.statistic}): top ${list(u.top)}${u.bottom.length ? `; bottom ${list(u.bottom)}` : ''}\n`);
    }
    process.stderr.write(`wrote the examples of ${r.length} unit(s) to ${out} (examples.json) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  } finally {
    process.off('SIGINT', onSigint);
    model.dispose();
  }
}

/** Images done, images/s and ETA: a bar on a terminal, a line per 10% otherwise. */
function progressLine(): NonNullable<ExamplesOptions['onProgress']> {
  const tty = process.stderr.isTTY;
  const started = Date.now();
  let lastDecile = -1;
  return ({ done, total, etaSeconds }) => {
    if (!total) return;
    const rate = done / Math.max(1e-3, (Date.now() - started) / 1000);
    const eta = etaSeconds !== undefined ? ` ETA ${Math.round(etaSeconds)} s` : '';
    const line = `indexing images ${done}/${total} (${(100 * done / total).toFixed(0)}%) ${done ? `${rate.toFixed(0)} images/s` : ''}${eta}`;
    if (tty) process.stderr.write(`\r${line}\x1b[K${done === total ? '\n' : ''}`);
    else {
      const decile = Math.floor((10 * done) / total);
      if (decile !== lastDecile) { lastDecile = decile; process.stderr.write(`${line}\n`); }
    }
  };
}
