import { strict as assert } from 'assert';
import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { repoRoot } from '../testing/fixtures';
import { startRedis, type TestRedis } from '../testing/redis';
import { redisConnection } from './atlasQueue';

const CLI = path.join(repoRoot, 'bin', 'neuron-lens.js');

/** A CLI process whose stderr is collected; `waitFor` resolves when a line matches. */
function cli(args: string[]) {
  const child: ChildProcess = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  child.stderr!.on('data', (d) => {
    err += d;
    for (const w of [...waiters]) {
      const m = w.re.exec(err);
      if (m) { waiters.splice(waiters.indexOf(w), 1); w.resolve(m); }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child, exited,
    log: () => err,
    /** The first match of `re` in stderr from character `from` on. */
    waitFor: (re: RegExp, from = 0) => new Promise<RegExpExecArray>((resolve) => {
      const w = { re: { exec: (s: string) => re.exec(s.slice(from)) } as RegExp, resolve };
      const m = w.re.exec(err);
      if (m) resolve(m); else waiters.push(w);
    }),
  };
}

describe('atlas on a BullMQ work queue (a real redis-server)', function () {
  this.timeout(300000);
  let redis: TestRedis;
  const workers: ReturnType<typeof cli>[] = [];
  before(async () => { redis = await startRedis(); });
  afterEach(async () => {
    for (const w of workers.splice(0)) {
      if (w.child.exitCode === null && w.child.signalCode === null) { w.child.kill('SIGTERM'); await w.exited; }
    }
  });
  after(async () => { await redis.stop(); });

  it('reads redis://HOST:PORT[/db] and names a bad URL', () => {
    assert.deepEqual(redisConnection('redis://127.0.0.1:6390/2'), { host: '127.0.0.1', port: 6390, db: 2, maxRetriesPerRequest: null });
    assert.throws(() => redisConnection('http://x:1'), /bad --queue "http:\/\/x:1": expected redis:\/\/HOST:PORT/);
  });

  it('producer + two workers, one SIGKILLed mid-job: its job runs on the other, every unit exactly once', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-atlas-queue-'));
    const w1 = cli(['worker', '--queue', redis.url, '--stalled-ms', '1000']);
    const w2 = cli(['worker', '--queue', redis.url, '--stalled-ms', '1000']);
    workers.push(w1, w2);
    await Promise.all([w1.waitFor(/waiting for atlas jobs/), w2.waitFor(/waiting for atlas jobs/)]);
    const producer = cli(['atlas', '--layer', 'conv1', '--layer', 'conv2', '--steps', '96', '--out', out, '--queue', redis.url]);
    // Let w1 finish one job, then kill it a moment into its second.
    await w1.waitFor(/job \d+: ran/);
    const [, killedJob] = await w1.waitFor(/job (\d+) \(attempt \d\)/, w1.log().length);
    await new Promise((r) => setTimeout(r, 150));
    w1.child.kill('SIGKILL');
    assert.equal(await producer.exited, 0, producer.log());
    assert.doesNotMatch(w1.log(), new RegExp(`job ${killedJob}: ran`), 'w1 was killed before it finished the job');
    assert.match(w2.log(), new RegExp(`job ${killedJob} \\(attempt \\d\\)`), 'the killed job ran on w2');
    assert.match(producer.log(), /12 jobs, 96 units in .* units\/min\), 0 already done; wrote .*index\.html/);
    const index = JSON.parse(fs.readFileSync(path.join(out, 'index.json'), 'utf8'));
    const units: string[] = index.units.map((u: { unit: string }) => u.unit);
    assert.equal(units.length, 96);
    assert.equal(new Set(units).size, 96, 'every unit exactly once');
    for (const u of index.units) assert.ok(fs.statSync(path.join(out, u.png)).size > 0, `${u.png} written`);
  });
});
