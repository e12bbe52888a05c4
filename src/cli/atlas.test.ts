import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { repoRoot } from '../core/testing/fixtures';

const CLI = path.join(repoRoot, 'bin', 'neuron-lens.js');

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(cmd, args, { cwd: repoRoot, env: { ...process.env, ...env }, encoding: 'utf8' });
  return { code: r.status, err: r.stderr };
}

describe('neuron-lens atlas: the batch-scheduler scripts in deploy/', function () {
  this.timeout(120000);

  it('the Slurm array script: three array tasks (ids 1-3) then --merge give the whole atlas', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-atlas-slurm-'));
    const env = { MODEL: 'models/fashion_cnn/model.json', OUT: out, ATLAS_ARGS: '--layer conv1 --steps 4 --batch 4' };
    for (const id of [1, 2, 3]) {
      const r = run('bash', ['deploy/slurm-atlas.sh'], { ...env, SLURM_ARRAY_TASK_ID: String(id), SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '3' });
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, new RegExp(`\\(shard ${id - 1}/3\\); when every shard is done: neuron-lens atlas --merge`));
    }
    const merged = run(process.execPath, [CLI, 'atlas', '--merge', out]);
    assert.equal(merged.code, 0, merged.err);
    const units = JSON.parse(fs.readFileSync(path.join(out, 'index.json'), 'utf8')).units.map((u: { unit: string }) => u.unit);
    assert.deepEqual(units, Array.from({ length: 32 }, (_, c) => `channel:conv1:${c}`));
  });

  it('the Kubernetes Indexed Job: --shards equals completions, the merge reads the same folder', () => {
    const job = fs.readFileSync(path.join(repoRoot, 'deploy', 'k8s-atlas-job.yaml'), 'utf8');
    const merge = fs.readFileSync(path.join(repoRoot, 'deploy', 'k8s-atlas-merge.yaml'), 'utf8');
    assert.match(job, /completionMode: Indexed/);
    const completions = /completions: (\d+)/.exec(job)![1];
    assert.equal(/--shards=(\d+)/.exec(job)![1], completions);
    assert.equal(/parallelism: (\d+)/.exec(job)![1], completions);
    assert.match(merge, new RegExp(`--merge, ${/--out=(\S+)/.exec(job)![1]}\\]`));
  });

  it('JOB_COMPLETION_INDEX without --shards, and --shard with --queue, are usage errors', () => {
    const a = run(process.execPath, [CLI, 'atlas', '--layer', 'conv1', '--steps', '1'], { JOB_COMPLETION_INDEX: '0' });
    assert.equal(a.code, 1);
    assert.match(a.err, /JOB_COMPLETION_INDEX is set: give the number of shards with --shards N/);
    const b = run(process.execPath, [CLI, 'atlas', '--layer', 'conv1', '--shard', '0/2', '--queue', 'redis://127.0.0.1:1']);
    assert.equal(b.code, 2);
    assert.match(b.err, /--shard and --queue are two ways to split an atlas: give one/);
    const c = run(process.execPath, [CLI, 'atlas', '--merge', os.tmpdir()]);
    assert.match(c.err, /atlas\.json not found: .* is not an atlas folder/);
  });
});
