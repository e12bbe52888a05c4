import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { fixture } from '../core/testing/fixtures';
import { readImage, toUint8 } from '../core/image';
import { main } from './main';

/** Runs the CLI in-process, capturing stdout and stderr. */
async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''; let err = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => { out += String(s); return true; }) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => { err += String(s); return true; }) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

describe('neuron-lens attack (CLI)', () => {
  // The small MobileNet keeps this fast; the attack itself is tested in core/attack.
  const model = fixture('models', 'mobilenet_v1_0.25_224');
  const img = (f: string) => fixture('images', f);
  const common = ['--input-range', '-1,1', '--backend', 'wasm'];
  let tmp: string;
  before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-attack-cli-')); });
  after(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); });

  it('one pair: original.png, perturbation.png, adversarial.png and result.json in --out, a summary on stderr', async () => {
    const out = path.join(tmp, 'one');
    const r = await run(['attack', model, '--image', img('coral_bird.png'), '--target', 'goldfish', '--epsilon', '0.03', '--steps', '5', '--out', out, '--json', ...common]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(fs.readdirSync(out).sort(), ['adversarial.png', 'original.png', 'perturbation.png', 'result.json']);
    const res = JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8'));
    assert.deepEqual(JSON.parse(r.out), res);
    assert.equal(res.results.length, 1);
    const p = res.results[0];
    assert.equal(p.target, 1);
    assert.equal(p.targetName, 'goldfish');
    assert.match(p.imageNote, /centre-cropped 512x343 -> 343x343, resized to 224x224/);
    for (const k of ['success', 'successAfterQuantization', 'stepsToSuccess', 'originalClass', 'originalProb', 'finalClass', 'targetProb', 'linf', 'l2', 'tv', 'psnr', 'ssim', 'top5Before', 'top5After']) assert.ok(k in p, k);
    const a = toUint8(readImage(path.join(out, 'adversarial.png')));
    const o = toUint8(readImage(path.join(out, 'original.png')));
    let levels = 0;
    for (let i = 0; i < a.length; i++) levels = Math.max(levels, Math.abs(a[i] - o[i]));
    assert.equal(levels, p.linfLevels);
    assert.ok(levels <= 7);
    assert.equal(res.summary.pairs, 1);
    assert.match(r.err, /am epsilon 0\.03: success [01]\/1/);
    assert.match(r.err, /mean L2 \d/);
  });

  it('two images and one target: every image x every target, one folder per pair', async () => {
    const out = path.join(tmp, 'two');
    const r = await run(['attack', model, '--image', img('chelsea.png'), '--image', img('coffee.png'), '--target', '954', '--method', 'fgsm', '--out', out, ...common]);
    assert.equal(r.code, 0, r.err);
    const dirs = fs.readdirSync(out).filter((f) => f !== 'result.json').sort();
    assert.deepEqual(dirs, ['01-chelsea-to-banana', '02-coffee-to-banana']);
    for (const d of dirs) assert.deepEqual(fs.readdirSync(path.join(out, d)).sort(), ['adversarial.png', 'original.png', 'perturbation.png']);
    const res = JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8'));
    assert.equal(res.settings.method, 'fgsm');
    assert.equal(res.results[1].files.adversarial, '02-coffee-to-banana/adversarial.png');
  });

  it('bad inputs: one error line and a non-zero exit code', async () => {
    const cases: [string[], RegExp][] = [
      [['--image', path.join(tmp, 'missing.png'), '--target', '1'], /image file not found: .*missing\.png/],
      [['--image', img('chelsea.png'), '--target', 'not a class'], /--target "not a class": unknown class "not a class"; nearest: /],
      [['--image', img('chelsea.png'), '--target', '1', '--epsilon', '0'], /epsilon must be in \(0, 1\]/],
      [['--image', img('chelsea.png'), '--target', '1', '--epsilon', '2'], /epsilon must be in \(0, 1\]/],
      [['--image', img('chelsea.png'), '--target', '1', '--steps', '0'], /steps must be an integer >= 1/],
      [['--image', img('chelsea.png'), '--target', '1', '--method', 'deepfool'], /--method must be am, fgsm or pgd/],
      [['--target', '1'], /at least one --image/],
    ];
    for (const [args, re] of cases) {
      const r = await run(['attack', model, ...args, '--out', path.join(tmp, 'bad'), ...common]);
      assert.notEqual(r.code, 0, args.join(' '));
      const errors = r.err.split('\n').filter((l) => l.includes('error'));
      assert.equal(errors.length, 1, r.err);
      assert.match(errors[0], re);
    }
    assert.ok(!fs.existsSync(path.join(tmp, 'bad')));
  });
});
