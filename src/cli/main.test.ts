import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { fixture, repoRoot } from '../core/testing/fixtures';

const MN25 = fixture('models', 'mobilenet_v1_0.25_224');

/** Runs the CLI from source in a child process, as a user would. */
function cli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', path.join(repoRoot, 'src', 'cli', 'bin.ts'), ...args], {
    cwd: repoRoot, encoding: 'utf8', env: { ...process.env, NEURON_LENS_WASM_THREADS: '1' }, timeout: 300000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The last stderr line must be one clear error line. */
function errorLine(r: { code: number; stderr: string }): string {
  assert.notEqual(r.code, 0, 'exits non-zero');
  const lines = r.stderr.trim().split('\n');
  const last = lines[lines.length - 1];
  assert.match(last, /^neuron-lens: /);
  return last;
}

describe('neuron-lens CLI', function () {
  let out: string;
  before(() => { out = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-cli-')); });
  after(() => fs.rmSync(out, { recursive: true, force: true }));

  it('describe --json lists every layer and marks the logits', () => {
    const r = cli('describe', MN25, '--json', '--backend', 'cpu');
    assert.equal(r.code, 0, r.stderr);
    const d = JSON.parse(r.stdout);
    assert.equal(d.format, 'tfjs-layers');
    assert.deepEqual(d.inputShape, [null, 224, 224, 3]);
    assert.equal(d.logitsLayer, 'conv_preds');
    const pw = d.layers.find((l: any) => l.name === 'conv_pw_6');
    assert.deepEqual(pw, { name: 'conv_pw_6', kind: 'Conv2D', outputShape: [null, 14, 14, 128], channels: 128, unitKinds: ['channel', 'neuron', 'direction', 'cosine'] });
    assert.ok(d.layers.find((l: any) => l.isLogits).unitKinds.includes('logit'));
    assert.match(r.stderr, /^backend: cpu \(/m, 'says which backend and why');
  });

  it('describe says "+ oneDNN" when the native kernels serve the wasm backend', () => {
    const r = cli('describe', MN25, '--backend', 'wasm');
    assert.equal(r.code, 0, r.stderr);
    const built = fs.existsSync(path.join(repoRoot, 'native', 'build', 'onednn.node')) && process.env.NEURON_LENS_NATIVE !== '0';
    assert.match(r.stderr, built ? /^backend: wasm \+ oneDNN \(/m : /^backend: wasm \(/m);
    assert.match(r.stdout, /^conv_pw_6 +Conv2D +\[\?, 14, 14, 128\] +128 +channel, neuron, direction, cosine$/m, 'the unit kinds of each layer');
  });

  it('visualize writes PNGs named after the units, a grid and result.json', () => {
    const dir = path.join(out, 'vis');
    const r = cli('visualize', MN25, '--input-range', '-1,1', '--unit', 'logit:goldfish', '--unit', 'channel:conv_pw_6:3-4',
      '--steps', '3', '--size', '32', '--out', dir, '--json');
    assert.equal(r.code, 0, r.stderr);
    const files = fs.readdirSync(dir).sort();
    assert.deepEqual(files, ['channel-conv_pw_6-3.png', 'channel-conv_pw_6-4.png', 'grid.png', 'logit-1.png', 'result.json']);
    const res = JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8'));
    assert.deepEqual(JSON.parse(r.stdout), res);
    assert.equal(res.units.length, 3);
    assert.equal(res.units[0].unit, 'logit:1');
    assert.ok(res.units.every((u: any) => Number.isFinite(u.activation)));
    assert.ok(res.msPerStep > 0);
    assert.equal(res.seed, 0);
    assert.match(r.stderr, /wrote 3 image\(s\) to /);
    // Progress counts the units after the range is expanded (2 specs, 3 units).
    assert.match(r.stderr, /units 1-3\/3 step /);
  });

  it('--param both writes pixel and fourier images side by side', () => {
    const dir = path.join(out, 'both');
    const r = cli('visualize', MN25, '--unit', 'logit:1', '--steps', '2', '--size', '32', '--param', 'both', '--out', dir);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.existsSync(path.join(dir, 'logit-1-pixel.png')) && fs.existsSync(path.join(dir, 'logit-1-fourier.png')));
  });

  it('--diversity N writes N images per unit, named -d<k>, with their copy in result.json', () => {
    const dir = path.join(out, 'div');
    const r = cli('visualize', MN25, '--input-range', '-1,1', '--unit', 'logit:1', '--unit', 'direction:conv_pw_6:3=1,7=-0.5',
      '--steps', '2', '--size', '32', '--diversity', '2', '--diversity-weight', '5', '--out', dir, '--json');
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(r.stdout);
    assert.deepEqual(res.units.map((u: any) => [u.unit, u.copy, u.file]), [
      ['logit:1', 0, 'logit-1-d0.png'], ['logit:1', 1, 'logit-1-d1.png'],
      ['direction:conv_pw_6:3=1,7=-0.5', 0, 'direction-conv_pw_6-3x1_7xm0.5-d0.png'], ['direction:conv_pw_6:3=1,7=-0.5', 1, 'direction-conv_pw_6-3x1_7xm0.5-d1.png'],
    ]);
    assert.equal(res.settings.diversity, 2);
    assert.equal(res.settings.diversityWeight, 5);
    for (const u of res.units) assert.ok(fs.existsSync(path.join(dir, u.file)), u.file);
  });

  const errors: [string, string[], RegExp][] = [
    ['missing model file', ['describe', '/nonexistent/model.json'], /model not found: \/nonexistent\/model\.json/],
    ['unknown layer, with the nearest names', ['visualize', MN25, '--unit', 'channel:conv_pw_66:1', '--steps', '1'], /unknown layer "conv_pw_66".*nearest: conv_pw_6/],
    ['channel out of range', ['visualize', MN25, '--unit', 'channel:conv_pw_6:500', '--steps', '1'], /channel 500 is out of range .*"conv_pw_6" has 128/],
    ['bad unit kind', ['visualize', MN25, '--unit', 'chanel:conv1:0', '--steps', '1'], /unknown kind "chanel"/],
    ['bad range', ['visualize', MN25, '--unit', 'channel:conv1:5-2', '--steps', '1'], /end before start/],
    ['unknown class name', ['visualize', MN25, '--unit', 'logit:goldfisj', '--steps', '1'], /unknown class "goldfisj"; nearest: goldfish/],
    ['vit unit on a conv layer', ['visualize', MN25, '--unit', 'vit:conv_pw_6:1', '--steps', '1'], /vit units need a \[batch, tokens, dim\] layer/],
    ['bad number', ['visualize', MN25, '--unit', 'logit:1', '--steps', 'many'], /--steps expects an integer, got "many"/],
    ['bad transforms', ['visualize', MN25, '--unit', 'logit:1', '--transforms', 'wobble:3'], /wobble/],
    ['bad input range', ['visualize', MN25, '--unit', 'logit:1', '--input-range', '1'], /bad --input-range "1"/],
    ['unknown backend', ['describe', MN25, '--backend', 'metal'], /--backend must be one of/],
    ['unknown option', ['visualize', '--frobnicate'], /Unknown option '--frobnicate'/],
    ['no unit', ['visualize', MN25], /needs at least one --unit/],
    ['diversity layer without --diversity', ['visualize', MN25, '--unit', 'logit:1', '--diversity-layer', 'conv_pw_6'], /--diversity-layer needs --diversity N/],
    ['one diversity copy', ['visualize', MN25, '--unit', 'logit:1', '--diversity', '1'], /--diversity must be an integer >= 2, got 1/],
    ['bad direction file', ['visualize', MN25, '--unit', 'direction:conv_pw_6:/nonexistent/v.json'], /direction file "\/nonexistent\/v\.json" \(unit ".*"\): cannot be read/],
  ];
  for (const [what, args, re] of errors) {
    it(`one clear error line: ${what}`, () => {
      assert.match(errorLine(cli(...args)), re);
    });
  }

  it('a missing weight shard is named', () => {
    const dir = path.join(out, 'broken');
    fs.mkdirSync(dir);
    for (const f of fs.readdirSync(MN25)) fs.copyFileSync(path.join(MN25, f), path.join(dir, f));
    fs.rmSync(path.join(dir, 'group7-shard1of1'));
    assert.match(errorLine(cli('describe', dir)), /missing weight shard: .*group7-shard1of1/);
  });
});
