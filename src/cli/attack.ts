// `neuron-lens attack`: targeted adversarial examples (AM, FGSM, PGD) on photos, a thin shell over core/attack.
import * as fs from 'fs';
import * as path from 'path';
import { numberOption, openModel, startBackend, withStopOnSigint } from './common';
import { resolveClass } from '../core/model/classes';
import { encodePng, fitToInput, readImage, writeFileAtomic, type RGBImage } from '../core/image';
import { attack, attackPairs, resolveAttackOptions, type AttackMethod, type AttackOptions, type AttackProgress, type AttackUpdate } from '../core/attack';

const VERSION: string = require('../../package.json').version;

export const ATTACK_USAGE = '  neuron-lens attack <model> --image FILE [--image FILE ...] --target <index|name> [--target ...] [options]\n';

export const ATTACK_HELP = `Attack options (epsilon and step are on the [0,1] pixel scale; the model's input range is applied after):
  --image FILE     PNG or JPEG, centre-cropped to the model's aspect ratio and resized to its input size
  --target T       target class, index or name (e.g. 1 or goldfish). With as many targets as images the
                   pairs are image i -> target i; otherwise every image is attacked toward every target
  --method M       am (maximize the target logit - tv * TV(delta), default), fgsm (one step of size
                   epsilon on cross-entropy), pgd (iterated cross-entropy steps)
  --epsilon X      L-infinity radius (default 0.01; 0 < X <= 1; the PNG stays on the 8-bit grid inside it)
  --step X         step size (default 0.01; pgd: epsilon/4; fgsm: epsilon)
  --tv X           lambda of the TV penalty on delta (default 1e-4 for am, 0 for fgsm and pgd)
  --steps N        most gradient steps (default 30; fgsm: 1)
  --update U       sign (default) or gradient (step * g / max|g|)
  --early-stop Y   yes (default): stop a pair once its target is top-1; no: run every step
  --out DIR        output folder (default out/attack): original.png, perturbation.png (x10 around grey),
                   adversarial.png (one folder per pair when there are several), result.json
  --json           print result.json to stdout
  --seed N         pgd random start seed

`;

/** The parsed options attack reads (a subset of the CLI's parseArgs values). */
export interface AttackValues {
  image?: string[];
  target?: string[];
  method?: string;
  epsilon?: string;
  step?: string;
  tv?: string;
  steps?: string;
  update?: string;
  'early-stop'?: string;
  seed?: string;
  out?: string;
  json?: boolean;
  backend?: string;
  'input-range'?: string;
}

function parseNum(values: AttackValues, key: keyof AttackValues, integer = false): number | undefined {
  return numberOption(key, values[key], integer);
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^_+|_+$/g, '');

/** Options from the command line, validated before anything is loaded. */
function attackOptions(values: AttackValues): Partial<AttackOptions> {
  const method = values.method ?? 'am';
  if (!['am', 'fgsm', 'pgd'].includes(method)) throw new Error(`--method must be am, fgsm or pgd, got "${method}"`);
  const update = values.update ?? 'sign';
  if (update !== 'sign' && update !== 'gradient') throw new Error(`--update must be sign or gradient, got "${update}"`);
  const es = values['early-stop'] ?? 'yes';
  if (!['yes', 'no'].includes(es)) throw new Error(`--early-stop must be yes or no, got "${es}"`);
  const opts: Partial<AttackOptions> = {
    method: method as AttackMethod,
    update: update as AttackUpdate,
    epsilon: parseNum(values, 'epsilon'),
    step: parseNum(values, 'step'),
    tv: parseNum(values, 'tv'),
    steps: parseNum(values, 'steps', true),
    seed: parseNum(values, 'seed', true),
    earlyStop: es === 'yes',
  };
  resolveAttackOptions(opts);
  return opts;
}

export async function cmdAttack(values: AttackValues, positionals: string[]): Promise<void> {
  if (positionals.length !== 1) throw new Error('attack takes exactly one model path (a model.json or its folder)');
  if (!values.image?.length) throw new Error('attack needs at least one --image FILE (PNG or JPEG)');
  const targetSpecs = values.target;
  if (!targetSpecs?.length) throw new Error('attack needs at least one --target <class index or name>');
  const opts = attackOptions(values);
  // Read every image before the (slow) model load, so a bad path fails at once.
  const photos = values.image.map((f) => ({ file: path.resolve(f), img: readImage(path.resolve(f)) }));
  const outDir = path.resolve(values.out ?? path.join('out', 'attack'));
  const backend = await startBackend(values.backend);
  const model = await openModel(positionals[0], values['input-range']);
  try {
    await withStopOnSigint(async (stopped) => {
      const { height: H, width: W, channels: C } = model.input;
      const targets = targetSpecs.map((t) => {
        try { return resolveClass(model, t.trim(), `--target ${t}`); } catch (e) {
          throw new Error((e as Error).message.replace(/unit "--target ([^"]*)"/, '--target "$1"'));
        }
      });
      const fitted = photos.map((p) => {
        const { image, note } = fitToInput(p.img, H, W, C);
        process.stderr.write(`image ${path.basename(p.file)}: ${note}\n`);
        return { ...p, image, note };
      });
      const pairs = attackPairs(fitted.length, targets.length);
      const run = await attack(model, pairs.map(([i]) => fitted[i].image), pairs.map(([, t]) => targets[t]), {
        ...opts,
        onProgress: progressLine(),
        shouldStop: stopped,
      });
      fs.mkdirSync(outDir, { recursive: true });
      const entries = run.results.map((r) => {
        const [ii] = pairs[r.pair];
        const img = fitted[ii];
        const folder = pairs.length === 1 ? '' : `${String(r.pair + 1).padStart(2, '0')}-${safe(path.parse(img.file).name)}-to-${safe(r.targetName ?? String(r.target))}`;
        const write = (name: string, im: RGBImage) => {
          const rel = folder ? `${folder}/${name}` : name;
          writeFileAtomic(path.join(outDir, rel), encodePng(im));
          return rel;
        };
        const { original, adversarial, perturbation, ...metrics } = r;
        return {
          image: img.file,
          imageNote: img.note,
          ...metrics,
          files: { original: write('original.png', original), perturbation: write('perturbation.png', perturbation), adversarial: write('adversarial.png', adversarial) },
        };
      });
      const ok = run.results.filter((r) => r.successAfterQuantization);
      const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
      const summary = {
        pairs: run.results.length,
        successes: ok.length,
        successRate: ok.length / run.results.length,
        meanL2: mean(run.results.map((r) => r.l2)),
        meanLinf: mean(run.results.map((r) => r.linf)),
        meanStepsToSuccess: mean(ok.flatMap((r) => (r.stepsToSuccess === null ? [] : [r.stepsToSuccess]))),
        msPerStep: run.msPerStep,
        msPerPairStep: run.msPerPairStep,
      };
      const result = {
        tool: `neuron-lens ${VERSION}`,
        model: { source: model.source, name: model.name, format: model.format, input: model.input, preprocess: model.preprocess.describe },
        backend: { name: backend.name, reason: backend.reason, threads: backend.threads },
        settings: run.settings,
        notes: [
          'epsilon, step, L-inf, L2 and TV are on the [0,1] pixel scale; TV is anisotropic (sum of |horizontal| + |vertical| differences of delta over pixels and channels)',
          'every metric compares the saved 8-bit adversarial.png with the saved 8-bit original.png; successAfterQuantization classifies adversarial.png re-encoded and decoded',
          'psnr is null when the images are identical (infinite)',
        ],
        cancelled: run.cancelled,
        stepsRun: run.stepsRun,
        summary,
        outDir,
        results: entries,
      };
      const json = JSON.stringify(result, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n';
      writeFileAtomic(path.join(outDir, 'result.json'), json);
      if (values.json) process.stdout.write(json);
      process.stderr.write(formatTable(entries, summary, run.settings.method, run.settings.epsilon));
      process.stderr.write(`${run.cancelled ? 'stopped early; ' : ''}wrote ${entries.length} pair(s) to ${outDir} (result.json)\n`);
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
