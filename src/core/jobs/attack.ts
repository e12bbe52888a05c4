// The attack job: image files and target classes in, the three PNGs per pair, metrics and the result
// JSON out. The CLI writes them to a folder, the engine sends them over the protocol.
import * as path from 'path';
import type { NLModel } from '../model/types';
import { resolveClass } from '../model/classes';
import { encodePng, fitToInput, readImage, type RGBImage } from '../image';
import { attack, attackPairs, resolveAttackOptions, type AttackOptions, type AttackProgress, type AttackResult, type AttackRun } from '../attack';
import { safeName, toJson } from './output';
import { checkStepMemory } from './memory';
import { backendSummaryJson, modelSummary, type RunContext } from './visualize';

export type AttackSettings = Omit<AttackOptions, 'onProgress' | 'shouldStop'>;

/** An image file read at full size (before it is fitted to a model). */
export interface AttackPhoto {
  file: string;
  img: RGBImage;
}

/** Reads every image first, so a bad path fails before the (slow) model load. */
export function readPhotos(files: string[]): AttackPhoto[] {
  return files.map((f) => ({ file: path.resolve(f), img: readImage(path.resolve(f)) }));
}

export interface AttackJob {
  photos: AttackPhoto[];
  /** Class indexes or names; as many as the photos: pairs i -> i, otherwise every photo x every target. */
  targets: string[];
  settings?: Partial<AttackSettings>;
  onProgress?: (p: AttackProgress) => void;
  shouldStop?: () => boolean;
  /** How each photo was fitted to the model's input (`centre-cropped ..., resized to ...`). */
  onNote?: (file: string, note: string) => void;
}

export interface AttackedPair extends Omit<AttackResult, 'original' | 'adversarial' | 'perturbation'> {
  /** The photo's file. */
  image: string;
  imageNote: string;
  /** Folder of this pair's files in the output ('' when there is one pair). */
  folder: string;
  png: { original: Buffer; perturbation: Buffer; adversarial: Buffer };
}

export interface AttackJobResult {
  pairs: AttackedPair[];
  run: Omit<AttackRun, 'results'>;
}

/** The settings with defaults filled in and checked (throws one clear line). */
export function resolveAttackSettings(given: Partial<AttackSettings> = {}): AttackSettings {
  return resolveAttackOptions(given);
}

export async function runAttack(model: NLModel, job: AttackJob): Promise<AttackJobResult> {
  resolveAttackSettings(job.settings);
  if (!job.photos.length) throw new Error('an attack needs at least one --image (PNG or JPEG)');
  if (!job.targets.length) throw new Error('an attack needs at least one --target <class index or name>');
  const { height: H, width: W, channels: C } = model.input;
  const targets = job.targets.map((t) => {
    try { return resolveClass(model, t.trim(), `--target ${t}`); } catch (e) {
      throw new Error((e as Error).message.replace(/unit "--target ([^"]*)"/, '--target "$1"'));
    }
  });
  const fitted = job.photos.map((p) => {
    const { image, note } = fitToInput(p.img, H, W, C);
    job.onNote?.(p.file, note);
    return { ...p, image, note };
  });
  const pairs = attackPairs(fitted.length, targets.length);
  checkStepMemory(model, Math.max(H, W), pairs.length, 'attack', 'the number of --image x --target pairs');
  const { results, ...run } = await attack(model, pairs.map(([i]) => fitted[i].image), pairs.map(([, t]) => targets[t]), {
    ...job.settings, onProgress: job.onProgress, shouldStop: job.shouldStop,
  });
  return {
    run,
    pairs: results.map(({ original, adversarial, perturbation, ...metrics }) => {
      const photo = fitted[pairs[metrics.pair][0]];
      const folder = pairs.length === 1 ? '' : `${String(metrics.pair + 1).padStart(2, '0')}-${safeName(path.parse(photo.file).name)}-to-${safeName(metrics.targetName ?? String(metrics.target))}`;
      return {
        ...metrics, image: photo.file, imageNote: photo.note, folder,
        png: { original: encodePng(original), perturbation: encodePng(perturbation), adversarial: encodePng(adversarial) },
      };
    }),
  };
}

export interface AttackSummary {
  pairs: number;
  successes: number;
  successRate: number;
  meanL2: number | null;
  meanLinf: number | null;
  meanStepsToSuccess: number | null;
  msPerStep: number;
  msPerPairStep: number;
}

export function summarizeAttack(r: AttackJobResult): AttackSummary {
  const all = r.pairs;
  const ok = all.filter((p) => p.successAfterQuantization);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  return {
    pairs: all.length,
    successes: ok.length,
    successRate: ok.length / all.length,
    meanL2: mean(all.map((p) => p.l2)),
    meanLinf: mean(all.map((p) => p.linf)),
    meanStepsToSuccess: mean(ok.flatMap((p) => (p.stepsToSuccess === null ? [] : [p.stepsToSuccess]))),
    msPerStep: r.run.msPerStep,
    msPerPairStep: r.run.msPerPairStep,
  };
}

/** The files of an attack: original.png, perturbation.png, adversarial.png (a folder per pair when there are several) and result.json. */
export function attackFiles(model: NLModel, r: AttackJobResult, ctx: RunContext): { files: Record<string, Buffer | string>; json: string; summary: AttackSummary; entries: (Omit<AttackedPair, 'png' | 'folder'> & { files: Record<string, string> })[] } {
  const files: Record<string, Buffer | string> = {};
  const entries = r.pairs.map(({ png, folder, ...metrics }) => {
    const names: Record<string, string> = {};
    for (const k of ['original', 'perturbation', 'adversarial'] as const) {
      const rel = folder ? `${folder}/${k}.png` : `${k}.png`;
      files[rel] = png[k];
      names[k] = rel;
    }
    return { ...metrics, files: names };
  });
  const summary = summarizeAttack(r);
  const result = {
    tool: ctx.tool,
    model: modelSummary(model),
    backend: backendSummaryJson(ctx.backend),
    settings: r.run.settings,
    notes: [
      'epsilon, step, L-inf, L2 and TV are on the [0,1] pixel scale; TV is anisotropic (sum of |horizontal| + |vertical| differences of delta over pixels and channels)',
      'every metric compares the saved 8-bit adversarial.png with the saved 8-bit original.png; successAfterQuantization classifies adversarial.png re-encoded and decoded',
      'psnr is null when the images are identical (infinite)',
    ],
    cancelled: r.run.cancelled,
    stepsRun: r.run.stepsRun,
    summary,
    outDir: ctx.outDir,
    results: entries,
  };
  const json = toJson(result);
  files['result.json'] = json;
  return { files, json, summary, entries };
}
