import { strict as assert } from 'assert';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { repoRoot } from '../core/testing/fixtures';
import { writeFashionPngs } from '../core/testing/fashion';

const args = (...a: string[]) => ['--require', 'tsx/cjs', path.join(repoRoot, 'src', 'cli', 'bin.ts'), ...a];
const env = { ...process.env, NEURON_LENS_WASM_THREADS: '1' };

describe('neuron-lens examples', () => {
  let tmp: string;
  let images: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-cli-examples-'));
    images = path.join(tmp, 'images');
    writeFashionPngs(images, 1500);
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('Ctrl-C keeps the index and exits with a message; a re-run indexes only the rest and writes the examples', async () => {
    const out = path.join(tmp, 'out');
    const first = spawn(process.execPath, args('examples', '--images', images, '--unit', 'channel:conv3_relu:1', '--batch', '16', '--out', out, '--backend', 'wasm'), { cwd: repoRoot, env });
    let stderr = '';
    const code = await new Promise<number | null>((resolve) => {
      first.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/indexing images [1-9]\d*\//.test(stderr) && !first.killed) first.kill('SIGINT');
      });
      first.on('exit', resolve);
    });
    assert.equal(code, 130, stderr);
    const m = /neuron-lens: stopped after indexing (\d+) of 1500 images; the index \(.*\) keeps them: run again to resume/.exec(stderr);
    assert.ok(m, stderr);
    const done = Number(m[1]);
    assert.ok(done > 0 && done < 1500 && done % 16 === 0, `${done} images indexed in whole batches`);
    const again = spawnSync(process.execPath, args('examples', '--images', images, '--unit', 'channel:conv3_relu:1', '--top', '3', '--out', out, '--json'), { cwd: repoRoot, env, encoding: 'utf8' });
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, new RegExp(`^indexing images 0/${1500 - done} `, 'm'));
    const json = JSON.parse(again.stdout);
    assert.equal(json.units[0].top.length, 3);
    assert.ok(fs.existsSync(path.join(out, json.units[0].top[0].heatmap)));
    assert.match(again.stderr, /^conv3_relu ch1 \(mean\): top \d{3}\/\d{5}\.png /m);
  });

  it('usage errors name the flag', () => {
    const r = spawnSync(process.execPath, args('examples', '--unit', 'logit:0'), { cwd: repoRoot, env, encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /neuron-lens: error: examples needs --images DIR/);
    const t = spawnSync(process.execPath, args('examples', '--images', images, '--unit', 'logit:0', '--top', 'x'), { cwd: repoRoot, env, encoding: 'utf8' });
    assert.equal(t.status, 2);
    assert.match(t.stderr, /--top expects an integer, got "x"/);
  });
});
