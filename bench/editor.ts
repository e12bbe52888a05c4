// `npm run bench -- --editor`: is the editor as fast as the CLI? Times the AM step (MobileNet v1 0.75 from the fixtures,
// batch 1, Fourier image, standard transforms, logit 0, no previews) in the same run, alternately, four ways:
//   cli               in-process, as the CLI runs it (wasm with the addon the CLI finds: native/build first)
//   cli portable      the same with the portable addon (native/build/portable: the linux-x64 .vsix's)
//   editor universal  the engine child process of the unpacked neuron-lens.vsix, forked by EngineClient as the
//                     extension forks it, timed by the arrival of its progress messages: wasm alone ("before")
//   editor linux-x64  the same from neuron-lens-linux-x64.vsix: wasm + the portable addon ("after")
// and prints each one's ms/step (median over repeats of each repeat's median) and CPU ms/step (the process's user +
// system time over the timed steps: the engine's read from /proc), and their ratios to cli (median over repeats of
// the ratio within the repeat: other processes load this machine, so only ratios of neighbouring runs mean anything).
// It packages both .vsix first (scripts/package.js: needs g++ and libdnnl-dev).
//
//   npm run bench -- --editor [--steps 10] [--repeats 3] [--model DIR] [--json]
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { unzipSync } from 'fflate';
import { EngineClient } from '../src/engine/client';

const root = path.join(__dirname, '..');

function fixturesDir(): string {
  if (process.env.NEURON_LENS_FIXTURES) return process.env.NEURON_LENS_FIXTURES;
  const sibling = path.resolve(root, '..', 'shared', 'fixtures');
  return fs.existsSync(sibling) ? sibling : '/work/shared/fixtures';
}

const SETTINGS = { param: 'fourier' as const, lr: 0.05, seed: 0, transforms: 'standard', batch: 1 };
const UNIT = 'logit:0';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Step times (ms) from the arrival times of per-step callbacks; the first (set-up, kernel creation) is dropped. */
function stepTimes(stamps: number[]): number[] {
  return stamps.slice(1).map((t, i) => t - stamps[i]).slice(1);
}

export interface EditorCase { name: string; backend: string; msPerStep: number; vsCli: number; cpuMsPerStep: number; cpuVsCli: number; steps: number[] }
interface CaseRun { backend: string; steps: number[]; cpuMsPerStep: number }

/** CPU ms (user + system, all threads) a process has used so far, from /proc/PID/stat. */
function processCpuMs(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/** CPU ms per timed step, from CPU readings taken with the step stamps (the first step excluded, as for wall time). */
function cpuPerStep(cpu: number[]): number {
  return (cpu[cpu.length - 1] - cpu[1]) / (cpu.length - 2);
}

/** The CLI path, run in a child process (`--editor-cli-case`) so that each case starts fresh. */
async function cliCase(model: string, steps: number, env: NodeJS.ProcessEnv): Promise<CaseRun> {
  const r = spawnSync(process.execPath, [...process.execArgv, __filename, '--editor-cli-case', model, String(steps)], { env, encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) throw new Error(`cli case failed (${r.status ?? r.signal}): ${r.stderr.trim().split('\n').pop()}`);
  return JSON.parse(line);
}

async function cliCaseMain(model: string, steps: number): Promise<void> {
  const { initBackend } = await import('../src/core/backend');
  const { loadModel } = await import('../src/core/model');
  const { parseUnits } = await import('../src/core/render/objectives');
  const { visualize } = await import('../src/core/render/visualize');
  const b = await initBackend('wasm');
  const m = await loadModel(model);
  const stamps: number[] = [performance.now()];
  const cpuMs = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
  const cpu: number[] = [cpuMs()];
  await visualize(m, parseUnits(m, [UNIT]), { ...SETTINGS, steps: steps + 1, previewEvery: 0, onProgress: () => { stamps.push(performance.now()); cpu.push(cpuMs()); } });
  const r: CaseRun = { backend: b.native ? `wasm + ${b.native}` : b.name, steps: stepTimes(stamps), cpuMsPerStep: cpuPerStep(cpu) };
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

/** The editor path: the engine of an unpacked .vsix, forked and driven by EngineClient as the extension does. */
async function editorCase(extensionDir: string, model: string, steps: number): Promise<CaseRun> {
  const env = { ...process.env };
  delete env.NEURON_LENS_NATIVE_ADDON; // the engine finds the addon the package carries, or none
  const client = new EngineClient({ modulePath: path.join(extensionDir, 'dist', 'engine.js'), backend: 'wasm', env });
  try {
    const b = await client.start();
    await client.loadModel({ path: model });
    const pid = client.pid!;
    const stamps: number[] = [performance.now()];
    const cpu: number[] = [processCpuMs(pid)];
    await client.visualize({ model: { path: model }, units: [UNIT], settings: { ...SETTINGS, steps: steps + 1 }, previewEvery: 0 }, () => {
      stamps.push(performance.now());
      cpu.push(processCpuMs(pid));
    }).result;
    return { backend: b.native ? `wasm + ${b.native}` : b.name, steps: stepTimes(stamps), cpuMsPerStep: cpuPerStep(cpu) };
  } finally {
    client.dispose();
  }
}

function unpack(vsix: string, dest: string): string {
  const files = unzipSync(fs.readFileSync(vsix));
  for (const [name, data] of Object.entries(files)) {
    if (!name.startsWith('extension/') || name.endsWith('/')) continue;
    const out = path.join(dest, name);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, data);
  }
  return path.join(dest, 'extension');
}

export async function editorBench(argv: string[]): Promise<EditorCase[]> {
  const get = (name: string, def: string) => { const i = argv.indexOf(`--${name}`); return i >= 0 && argv[i + 1] ? argv[i + 1] : def; };
  const steps = Number(get('steps', '10'));
  const repeats = Number(get('repeats', '3'));
  const model = path.resolve(get('model', path.join(fixturesDir(), 'models', 'mobilenet_v1_0.75_224')), 'model.json');
  const json = argv.includes('--json');
  const log = (s: string) => (json ? process.stderr : process.stdout).write(`${s}\n`);
  if (!fs.existsSync(model)) throw new Error(`model not found: ${model}`);
  log(`Neuron Lens editor-path bench ${new Date().toISOString()} — ${os.cpus().length} CPUs, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  log(`model ${path.relative(root, model)}, batch 1, ${steps} steps (+1 warm-up), ${repeats} repeats, alternating; packaging both .vsix`);
  const pk = spawnSync(process.execPath, [path.join(root, 'scripts', 'package.js')], { cwd: root, encoding: 'utf8' });
  if (pk.status !== 0) throw new Error(`npm run package failed: ${pk.stderr.trim().split('\n').pop()}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-editor-bench-'));
  try {
    const universal = unpack(path.join(root, 'neuron-lens.vsix'), path.join(tmp, 'universal'));
    const linux = unpack(path.join(root, 'neuron-lens-linux-x64.vsix'), path.join(tmp, 'linux-x64'));
    const portable = path.join(root, 'native', 'build', 'portable', 'onednn.node');
    const cases: Array<{ name: string; run: () => Promise<CaseRun> }> = [
      { name: 'cli', run: () => cliCase(model, steps, process.env) },
      { name: 'cli portable', run: () => cliCase(model, steps, { ...process.env, NEURON_LENS_NATIVE_ADDON: portable }) },
      { name: 'editor universal (before)', run: () => editorCase(universal, model, steps) },
      { name: 'editor linux-x64 (after)', run: () => editorCase(linux, model, steps) },
    ];
    const got = new Map<string, { backend: string; medians: number[]; cpu: number[]; steps: number[] }>();
    for (let r = 0; r < repeats; r++) {
      for (const c of cases) {
        const res = await c.run();
        const g = got.get(c.name) ?? { backend: res.backend, medians: [], cpu: [], steps: [] };
        g.medians.push(median(res.steps));
        g.cpu.push(res.cpuMsPerStep);
        g.steps.push(...res.steps.map((t) => Math.round(t * 10) / 10));
        got.set(c.name, g);
      }
    }
    const cli = got.get(cases[0].name)!;
    const ratio = (xs: number[], ref: number[]) => median(xs.map((x, i) => x / ref[i]));
    const rows: EditorCase[] = cases.map((c) => {
      const g = got.get(c.name)!;
      return { name: c.name, backend: g.backend, msPerStep: median(g.medians), vsCli: ratio(g.medians, cli.medians), cpuMsPerStep: median(g.cpu), cpuVsCli: ratio(g.cpu, cli.cpu), steps: g.steps };
    });
    log('\n| path | backend | ms/step | / cli | cpu ms/step | / cli |\n|---|---|---|---|---|---|');
    for (const r of rows) log(`| ${r.name} | ${r.backend} | ${r.msPerStep.toFixed(1)} | ${r.vsCli.toFixed(2)}x | ${r.cpuMsPerStep.toFixed(1)} | ${r.cpuVsCli.toFixed(2)}x |`);
    if (json) for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
    return rows;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--editor-cli-case');
  (i >= 0 ? cliCaseMain(argv[i + 1], Number(argv[i + 2])) : editorBench(argv).then(() => undefined)).then(() => process.exit(0), (e) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
