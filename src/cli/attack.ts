// `neuron-lens attack`: targeted adversarial examples (AM, FGSM, PGD) on photos, a thin shell over core/jobs.
import * as path from 'path';
import { openModel, optionLines, readOptions, startBackend, TOOL, withStopOnSigint, type Values } from './common';
import type { AttackProgress } from '../core/attack';
import { ATTACK_OPTIONS, attackFiles, prepareOutDir, readPhotos, resolveAttackSettings, runAttack, writeFiles, type AttackSettings } from '../core/jobs';

export const ATTACK_USAGE = '  neuron-lens attack <model> --image FILE [--image FILE ...] --target <index|name> [--target ...] [options]\n';

export const ATTACK_HELP = `Attack options (epsilon and step are on the [0,1] pixel scale; the model's input range is applied after):
  --image FILE         PNG or JPEG, centre-cropped to the model's aspect ratio and resized to its input size
  --target T           target class, index or name (e.g. 1 or goldfish). With as many targets as images the
                       pairs are image i -> target i; otherwise every image is attacked toward every target
${optionLines(ATTACK_OPTIONS)}
  --out DIR            output folder (default out/attack): original.png, perturbation.png (x10 around grey),
                       adversarial.png (one folder per pair when there are several), result.json
  --json               print result.json to stdout

`;

/** Options from the command line, validated before anything is loaded. */
function attackOptions(values: Values): Partial<AttackSettings> {
  const { earlyStop, ...rest } = readOptions(ATTACK_OPTIONS, values);
  const opts = { ...rest, ...(earlyStop !== undefined ? { earlyStop: earlyStop === 'yes' } : {}) } as Partial<AttackSettings>;
  resolveAttackSettings(opts);
  return opts;
}

export async function cmdAttack(values: Values, positionals: string[]): Promise<void> {
  if (positionals.length !== 1) throw new Error('attack takes exactly one model path (a model file or its folder)');
  const images = values.image as string[] | undefined;
  if (!images?.length) throw new Error('attack needs at least one --image FILE (PNG or JPEG)');
  const targets = values.target as string[] | undefined;
  if (!targets?.length) throw new Error('attack needs at least one --target <class index or name>');
  const settings = attackOptions(values);
  // Read every image before the (slow) model load, so a bad path fails at once.
  const photos = readPhotos(images);
  const outDir = prepareOutDir((values.out as string | undefined) ?? path.join('out', 'attack'), '--out', false);
  const backend = await startBackend(values.backend as string | undefined);
  const model = await openModel(positionals[0], values['input-range'] as string | undefined);
  try {
    await withStopOnSigint(async (stopped) => {
      const r = await runAttack(model, {
        photos, targets, settings, shouldStop: stopped, onProgress: progressLine(),
        onNote: (file, note) => process.stderr.write(`image ${path.basename(file)}: ${note}\n`),
      });
      const { files, json, summary, entries } = attackFiles(model, r, { tool: TOOL, backend, outDir });
      writeFiles(outDir, files);
      if (values.json) process.stdout.write(json);
      process.stderr.write(formatTable(entries, summary, r.run.settings.method, r.run.settings.epsilon));
      process.stderr.write(`${r.run.cancelled ? 'stopped early; ' : ''}wrote ${entries.length} pair(s) to ${outDir} (result.json)\n`);
    });
  } finally {
    model.dispose();
  }
}

function progressLine(): (p: AttackProgress) => void {
  const tty = process.stderr.isTTY;
  return (p) => {
    const line = `step ${p.step}/${p.steps}: ${p.succeeded}/${p.pairs} reached the target, ${p.active} running, ${p.msPerStep.toFixed(0)} ms/step`;
    if (tty) process.stderr.write(`\r${line}\x1b[K${p.active === 0 || p.step === p.steps ? '\n' : ''}`);
    else process.stderr.write(`${line}\n`);
  };
}

interface Row {
  image: string;
  originalName?: string; originalClass: number; originalProb: number;
  targetName?: string; target: number; targetProb: number;
  successAfterQuantization: boolean; stepsToSuccess: number | null; linfLevels: number; l2: number; ssim: number;
}

function formatTable(rows: Row[], s: { pairs: number; successes: number; successRate: number; meanL2: number | null; meanStepsToSuccess: number | null; msPerPairStep: number }, method: string, eps: number): string {
  const cut = (t: string, n: number) => (t.length > n ? `${t.slice(0, n - 1)}~` : t).padEnd(n);
  const lines = [`${cut('image', 18)} ${cut('original (p)', 24)} ${cut('target (p)', 24)} ok  steps linf/255  L2     SSIM`];
  for (const r of rows) {
    lines.push([
      cut(path.basename(r.image), 18),
      cut(`${r.originalName ?? r.originalClass} (${r.originalProb.toFixed(2)})`, 24),
      cut(`${r.targetName ?? r.target} (${r.targetProb.toFixed(2)})`, 24),
      r.successAfterQuantization ? 'yes' : 'no ',
      String(r.stepsToSuccess ?? '-').padStart(5),
      String(r.linfLevels).padStart(9),
      r.l2.toFixed(3).padStart(6),
      r.ssim.toFixed(4),
    ].join(' '));
  }
  lines.push(`${method} epsilon ${eps}: success ${s.successes}/${s.pairs} (${(100 * s.successRate).toFixed(0)}%), mean L2 ${s.meanL2?.toFixed(3)}, mean steps to success ${s.meanStepsToSuccess === null ? '-' : s.meanStepsToSuccess.toFixed(1)}, ${s.msPerPairStep.toFixed(0)} ms per pair-step`);
  return lines.join('\n') + '\n';
}
