import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { repoRoot } from '../testing/fixtures';
import { ATTACK_DEFAULTS, optionProblem, orList, VISUALIZE_DEFAULTS, VISUALIZE_OPTIONS } from './options';
import { pairedRows, resolveVisualizeSettings, runVisualize } from './visualize';
import { MAX_STEP_BYTES } from './options';
import { stepBytesEstimate } from './memory';
import { initBackend } from '../backend';
import { embeddedModelPath, loadModel, type NLModel } from '../model';
import { prepareOutDir, safeName, Stems, writeFiles } from './output';
import { DEFAULT_VISUALIZE } from '../render/visualize';
import { DEFAULT_ATTACK } from '../attack';

describe('jobs: the option table', () => {
  it('is the one set of defaults: core, the CLI and the protocol read it', () => {
    assert.equal(VISUALIZE_DEFAULTS.steps, 512);
    assert.equal(DEFAULT_VISUALIZE.steps, VISUALIZE_DEFAULTS.steps);
    assert.deepEqual(DEFAULT_VISUALIZE.reg, { tv: 0, l1: 0, l2: 0, blur: 0 });
    assert.equal(DEFAULT_ATTACK.epsilon, ATTACK_DEFAULTS.epsilon);
    assert.equal(DEFAULT_ATTACK.earlyStop, true);
  });

  it('checks values against the limits, naming the flag', () => {
    const steps = VISUALIZE_OPTIONS.find((o) => o.key === 'steps')!;
    assert.equal(optionProblem(steps, 10), undefined);
    assert.equal(optionProblem(steps, 0), '--steps must be an integer >= 1, got 0');
    assert.equal(optionProblem(steps, 2.5), '--steps expects an integer, got 2.5');
    assert.equal(optionProblem(steps, 1e6), '--steps must be an integer <= 10000, got 1000000');
    const seed = VISUALIZE_OPTIONS.find((o) => o.key === 'seed')!;
    assert.equal(optionProblem(seed, 2 ** 32 - 1), undefined);
    assert.equal(optionProblem(seed, 2 ** 32), '--seed must be an integer <= 4294967295, got 4294967296');
    assert.equal(optionProblem(VISUALIZE_OPTIONS.find((o) => o.key === 'size')!, 2048), '--size must be an integer <= 1024, got 2048');
    const lr = VISUALIZE_OPTIONS.find((o) => o.key === 'lr')!;
    assert.equal(optionProblem(lr, 0), '--lr must be > 0, got 0');
    assert.equal(orList(['a', 'b', 'c']), 'a, b or c');
  });

  it('resolves settings: defaults filled, unknown parameterizations named with the registered ones', () => {
    const s = resolveVisualizeSettings({ steps: 3, size: undefined });
    assert.equal(s.steps, 3);
    assert.equal(s.param, 'fourier');
    assert.equal(s.size, undefined);
    assert.throws(() => resolveVisualizeSettings({ param: 'wavelet' }), /unknown parameterization "wavelet" \(expected pixel, fourier/);
    assert.throws(() => resolveVisualizeSettings({ batch: 0 }), /--batch must be an integer >= 1, got 0/);
  });
});

describe('jobs: the step memory estimate', function () {
  this.timeout(60000);
  let model: NLModel;
  before(async () => {
    await initBackend('cpu');
    model = await loadModel(embeddedModelPath());
  });
  after(() => model.dispose());

  it('grows with the batch and the image side, and refuses a step over the limit before anything runs', async () => {
    const small = stepBytesEstimate(model, 28, 1);
    assert.ok(small > 4 * 28 * 28 && small < 2 ** 22, String(small));
    assert.equal(stepBytesEstimate(model, 28, 8), 8 * small);
    assert.ok(stepBytesEstimate(model, 1024, 128) > MAX_STEP_BYTES);
    await assert.rejects(runVisualize(model, { units: ['channel:conv3:0-127'], settings: { size: 1024, batch: 128, steps: 1 } }),
      /^Error: visualize: one step would need about [\d.]+ GiB \(128 image\(s\) of 1024x1024 on fashion_cnn.*lower --size or --batch$/);
    await assert.rejects(runVisualize(model, { units: ['logit:0'], settings: { size: 1024, diversity: 64, steps: 1 } }), /lower --size, --diversity or --batch/);
    await assert.rejects(runVisualize(model, { units: Array(100).fill('channel:conv3:0-127'), settings: { steps: 1 } }), /^Error: visualize: 12800 unit\(s\) x 1 copy x 1 parameterization\(s\) make 12800 images, more than the 10000 one job may/);
  });
});

describe('jobs: outputs', () => {
  it('numbers repeated stems', () => {
    const s = new Stems();
    assert.deepEqual(['a', 'a', 'b', 'a'].map((x) => s.take(x)), ['a', 'a-2', 'b', 'a-3']);
    // a stem too long for a file name is cut, with a hash that keeps two long stems apart
    const [x, y] = [s.take(`logit-0${'+logit-0'.repeat(500)}`), s.take(`logit-0${'+logit-1'.repeat(500)}`)];
    assert.ok(x.length === 120 && y.length === 120 && x !== y && x.startsWith('logit-0+logit-0'), `${x} ${y}`);
    assert.equal(safeName('a b/c'.repeat(100)).length, 120);
  });

  it('orders a comparison grid as one row per parameterization of the same units', () => {
    // 3 units, 2 parameterizations, 2 columns: [u0 u1 / u0' u1'] [u2 _ / u2' _]
    assert.deepEqual(pairedRows(3, 2, 2), [0, 1, 3, 4, 2, -1, 5, -1]);
    assert.deepEqual(pairedRows(2, 3, 2), [0, 1, 2, 3, 4, 5]);
  });

  it('writes files under the output folder only', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-jobs-'));
    try {
      writeFiles(dir, { 'a.png': Buffer.from([1]), 'sub/b.json': '{}\n' });
      assert.deepEqual(fs.readFileSync(path.join(dir, 'sub', 'b.json'), 'utf8'), '{}\n');
      assert.throws(() => writeFiles(dir, { '../x.png': Buffer.from([1]) }), /outside/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('jobs: the output folder, checked before a job runs', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-out-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('creates missing folders, and refuses a file in the way, kernel file systems and an empty path in words', () => {
    assert.equal(prepareOutDir(path.join(dir, 'a', 'b'), '--out', false), path.join(dir, 'a', 'b'));
    assert.ok(!fs.existsSync(path.join(dir, 'a')), 'a check alone creates nothing');
    assert.equal(prepareOutDir(path.join(dir, 'a', 'b')), path.join(dir, 'a', 'b'));
    assert.ok(fs.statSync(path.join(dir, 'a', 'b')).isDirectory());
    fs.writeFileSync(path.join(dir, 'f'), 'x');
    assert.throws(() => prepareOutDir(path.join(dir, 'f')), new RegExp(`^Error: --out ${path.join(dir, 'f')}: exists and is not a folder$`));
    assert.throws(() => prepareOutDir(path.join(dir, 'f', 'sub')), new RegExp(`--out ${path.join(dir, 'f', 'sub')}: ${path.join(dir, 'f')} is a file, not a folder$`));
    assert.throws(() => prepareOutDir('/proc/self/nl-out/x'), /^Error: --out \/proc\/self\/nl-out\/x: \/proc is a kernel file system, not a place for files$/);
    assert.throws(() => prepareOutDir('/sys/nl-out'), /\/sys is a kernel file system/);
    fs.symlinkSync('/proc/self', path.join(dir, 'p'));
    assert.throws(() => prepareOutDir(path.join(dir, 'p', 'x')), /\/proc is a kernel file system/);
    assert.throws(() => prepareOutDir(''), /^Error: --out is empty/);
    assert.throws(() => prepareOutDir(path.join(dir, 'x'.repeat(300)), '--out', false), /: the folder name "x{24}\.\.\." is longer than the 255 bytes a file system allows$/);
  });

  it('replaces a symbolic link in the folder instead of writing through it', () => {
    const outside = path.join(dir, 'outside.png');
    fs.writeFileSync(outside, 'keep');
    fs.mkdirSync(path.join(dir, 'out'));
    fs.symlinkSync(outside, path.join(dir, 'out', 'grid.png'));
    writeFiles(path.join(dir, 'out'), { 'grid.png': Buffer.from([1, 2]) });
    assert.equal(fs.readFileSync(outside, 'utf8'), 'keep');
    assert.deepEqual([...fs.readFileSync(path.join(dir, 'out', 'grid.png'))], [1, 2]);
  });
});

describe('jobs: a parameterization registered at runtime', function () {
  this.timeout(120000);

  it('appears in the CLI help, the capabilities and the settings check without another edit (and so does a unit kind)', () => {
    // A separate process: the registry is global, and this test's registration must not leak.
    const script = `
      const { registerParam, getParam } = require('./src/core/render/param');
      registerParam({ name: 'test-wave', title: 'Test wave', description: 'a parameterization registered by a test', create: (o) => getParam('pixel').create(o) });
      const { registerUnitKind } = require('./src/core/render/objectives');
      registerUnitKind({ name: 'testkind', syntax: 'testkind:<layer>:<c>', description: 'a unit kind registered by a test', example: 'testkind:conv:0', appliesTo: () => false });
      const { helpText } = require('./src/cli/main');
      const { capabilities, resolveVisualizeSettings } = require('./src/core/jobs');
      process.stdout.write(JSON.stringify({ help: helpText(), caps: capabilities(), param: resolveVisualizeSettings({ param: 'test-wave' }).param }));
    `;
    const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { cwd: repoRoot, encoding: 'utf8', timeout: 110000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.match(out.help, /^ {2}test-wave +a parameterization registered by a test$/m);
    assert.match(out.help, /^ {2}testkind:<layer>:<c> +a unit kind registered by a test, e\.g\. testkind:conv:0$/m);
    const names = out.caps.params.map((p: { name: string }) => p.name);
    assert.ok(names.includes('pixel') && names.includes('fourier'), names.join());
    assert.equal(names.at(-1), 'test-wave');
    assert.equal(out.caps.unitKinds.at(-1).name, 'testkind');
    assert.equal(out.param, 'test-wave');
  });
});
