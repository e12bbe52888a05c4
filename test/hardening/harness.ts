// Runs one bad-input case as a CLI child process under a time and memory limit and classifies what happened.
// Each case lives in its own folder: `m/` (the model folder and anything the case wrote), `outside/` (canary
// files that symlinks point to and that must never be read) and `out/` (the only place a case may write).
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

/** A file of a case: bytes or text, a symbolic link, a FIFO, an empty folder or a sparse file of some size. */
export type Entry =
  | string
  | Uint8Array
  | { link: string }
  | { fifo: true }
  | { dir: true }
  | { sparse: number; head?: Uint8Array };

export type Expect = 'error' | 'ok' | 'any';

export interface Case {
  /** Unique, `family/what`. */
  id: string;
  /** The class this case belongs to. */
  cls: string;
  /** Files under the case's model folder `m/`, by relative path. */
  files: Record<string, Entry>;
  /**
   * The command line after `neuron-lens`. `{m}` is the model folder, `{out}` the output folder, `{outside}`
   * the folder of canaries; `--backend cpu` and `--out {out}` are added unless given.
   */
  args: string[];
  /** error: a clear error is the only right outcome; ok: the command must succeed; any: either. */
  expect: Expect;
}

export type Outcome = 'clear' | 'ok' | 'unclear' | 'wrong' | 'crash' | 'hang' | 'oom';

export interface Result {
  c: Case;
  outcome: Outcome;
  /** Outside reads and writes, by path (a case may also have these on top of its outcome). */
  outsideReads: string[];
  outsideWrites: string[];
  code: number | null;
  signal: string | null;
  ms: number;
  peakRssMb: number;
  message: string;
}

export interface Limits {
  timeoutMs: number;
  /** The child is killed when its resident memory passes this. */
  rssMb: number;
  /** V8's heap limit of the child. */
  heapMb: number;
  /** The model byte budget the child runs with (NEURON_LENS_MAX_MODEL_BYTES), below the memory limit. */
  modelBytes: number;
}

/** The canary's text: in every file of `outside/`, so it shows if any of them is read into an output. */
export function canaryText(root: string): string {
  return `NEURON-LENS-CANARY-${path.basename(root).replace(/[^A-Za-z0-9]/g, '')}`;
}

/** Files every case's `outside/` folder holds; symlinks of the cases point at them. */
function outsideFiles(canary: string): Record<string, Uint8Array | string> {
  const pad = (n: number) => {
    const b = Buffer.alloc(n, 0x20);
    for (let i = 0; i + canary.length <= n; i += canary.length + 1) b.write(canary, i);
    return b;
  };
  return {
    'canary.txt': `${canary}\n${canary} line 2\n`,
    'labels.txt': Array.from({ length: 10 }, (_, i) => `${canary}-${i}`).join('\n'),
    'labels.json': JSON.stringify(Array.from({ length: 10 }, (_, i) => `${canary}-${i}`)),
    'neuron-lens.json': JSON.stringify({ labels: Array.from({ length: 10 }, (_, i) => `${canary}-${i}`) }),
    'metadata.json': JSON.stringify({ labels: Array.from({ length: 10 }, (_, i) => `${canary}-${i}`) }),
    // big enough to stand in for any small model's shard or ONNX external data
    'weights.bin': pad(1 << 16),
    'model.json': JSON.stringify({ modelTopology: { canary }, weightsManifest: [] }),
    'image.png': pad(4096),
  };
}

const OLD = new Date('2001-01-01T00:00:00Z');

/** Writes a case's folders. Canaries get an access time older than their modification: any read updates it (relatime). */
export function materialize(dir: string, c: Case, canary: string): void {
  const m = path.join(dir, 'm');
  const outside = path.join(dir, 'outside');
  fs.mkdirSync(m, { recursive: true });
  fs.mkdirSync(outside, { recursive: true });
  for (const [name, data] of Object.entries(outsideFiles(canary))) fs.writeFileSync(path.join(outside, name), data);
  fs.mkdirSync(path.join(outside, 'sub'));
  fs.writeFileSync(path.join(outside, 'sub', 'weights.bin'), outsideFiles(canary)['weights.bin']);
  for (const [rel, e] of Object.entries(c.files)) {
    const f = rel.startsWith('@out/') ? path.join(dir, 'out', rel.slice(5)) : path.join(m, rel);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    if (typeof e === 'string' || e instanceof Uint8Array) fs.writeFileSync(f, e);
    else if ('link' in e) fs.symlinkSync(e.link.replace('{outside}', outside).replace('{m}', m), f);
    else if ('fifo' in e) mkfifo(f);
    else if ('dir' in e) fs.mkdirSync(f, { recursive: true });
    else {
      const fd = fs.openSync(f, 'w');
      if (e.head) fs.writeSync(fd, e.head, 0, e.head.length, 0);
      fs.ftruncateSync(fd, e.sparse);
      fs.closeSync(fd);
    }
  }
  for (const f of walk(outside)) fs.utimesSync(f, OLD, new Date());
}

function mkfifo(f: string): void {
  const r = require('child_process').spawnSync('mkfifo', [f]);
  if (r.status !== 0) throw new Error(`mkfifo ${f} failed: ${r.stderr}`);
}

/** Every regular file below `dir` (not following symlinks). */
export function walk(dir: string): string[] {
  const out: string[] = [];
  const rec = (d: string) => {
    let names: fs.Dirent[];
    try { names = fs.readdirSync(d, { withFileTypes: true }); } catch { return; }
    for (const n of names) {
      const p = path.join(d, n.name);
      if (n.isDirectory()) rec(p);
      else if (n.isFile()) out.push(p);
    }
  };
  rec(dir);
  return out;
}

/** Path -> size:mtime of every entry below `dir` (links by their target text), skipping `skip`. */
export function snapshot(dir: string, skip: (p: string) => boolean = () => false): Map<string, string> {
  const out = new Map<string, string>();
  const rec = (d: string) => {
    let names: fs.Dirent[];
    try { names = fs.readdirSync(d, { withFileTypes: true }); } catch { return; }
    for (const n of names) {
      const p = path.join(d, n.name);
      if (skip(p)) continue;
      if (n.isSymbolicLink()) out.set(p, `link:${fs.readlinkSync(p)}`);
      else if (n.isDirectory()) { out.set(p, 'dir'); rec(p); }
      else {
        const s = fs.lstatSync(p);
        out.set(p, `${s.size}:${s.mtimeMs}`);
      }
    }
  };
  rec(dir);
  return out;
}

export function diff(before: Map<string, string>, after: Map<string, string>): string[] {
  const changed: string[] = [];
  for (const [p, v] of after) if (before.get(p) !== v) changed.push(p);
  for (const p of before.keys()) if (!after.has(p)) changed.push(`${p} (removed)`);
  return changed;
}

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Text of an internal error rather than a message for a person. */
const INTERNAL = [
  /\b(TypeError|RangeError|ReferenceError|InternalError|AssertionError)\b/,
  /Cannot read propert/, /Cannot set propert/, /is not a function/, /is not iterable/, /error: [\w$.]+ is not defined$/m,
  /\bundefined\b/, /\bNaN\b/, /\[object Object\]/, /Invalid typed array length/, /Invalid array length/,
  /URI malformed/, /Cannot create a string/, /Maximum call stack/, /out of memory/i, /Array buffer allocation failed/,
  /\bE[A-Z]{3,}: /, /^\s+at .+:\d+:\d+\)?$/m, /unreachable|RuntimeError/, /Assertion failed/,
];

/** The problems of an error message (empty when it is clear): it names the file or option and says what is wrong. */
export function unclearReasons(message: string, names: string[]): string[] {
  const why: string[] = [];
  if (!message.trim()) why.push('no message');
  // A JSON parser's message quotes the bad text (`Unexpected token 'N', "{"a": NaN}"`): only the words before it count.
  // Quoted text is the input's, not the message's own words (`--steps expects an integer, got "NaN"`).
  const words = message.replace(/is not valid JSON: .*/s, 'is not valid JSON').replace(/"[^"\n]*"/g, '""');
  for (const re of INTERNAL) if (re.test(words)) why.push(`internal text ${re}`);
  if (!names.some((n) => message.includes(n))) why.push('names no file of the case nor an option');
  return why;
}

/** The names a clear message of this case may use: its folder's paths, its files, the flags of its command line. */
function namesOf(c: Case, dir: string, args: string[]): string[] {
  const names = [dir, ...Object.keys(c.files).map((f) => path.basename(f))];
  for (const a of args) {
    if (a.startsWith('--')) names.push(a.split('=')[0]);
    if (path.isAbsolute(a)) names.push(a, path.basename(a));
  }
  if (args[0] === 'visualize' || args[0] === 'attack') names.push('--unit', 'unit', '--target', 'target');
  // a usage error names the command
  names.push('command', `${args[0]} `);
  return names.filter((n) => n.length > 2);
}

export function expandArgs(c: Case, dir: string): string[] {
  const sub = (a: string) => a.replace(/\{m\}/g, path.join(dir, 'm')).replace(/\{out\}/g, path.join(dir, 'out')).replace(/\{outside\}/g, path.join(dir, 'outside'));
  const args = c.args.map(sub);
  if (!args.some((a) => a.startsWith('--backend'))) args.push('--backend', 'cpu');
  if (!args.some((a) => a.startsWith('--out')) && args[0] !== 'describe') args.push('--out', path.join(dir, 'out'));
  return args;
}

/** Runs `node <cli> args` in the case's folder and classifies the result. */
export function runCase(cli: string, c: Case, dir: string, canary: string, limits: Limits): Promise<Result> {
  const args = expandArgs(c, dir);
  const outDir = path.join(dir, 'out');
  const outsideDir = path.join(dir, 'outside');
  const isOut = (p: string) => p === outDir || p.startsWith(outDir + path.sep);
  const before = snapshot(dir, isOut);
  const atimes = new Map(walk(outsideDir).map((f) => [f, fs.statSync(f).atimeMs]));
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [`--max-old-space-size=${limits.heapMb}`, cli, ...args], {
      cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', NEURON_LENS_MAX_MODEL_BYTES: String(limits.modelBytes) },
    });
    let stdout = '';
    let stderr = '';
    const cap = (s: string, d: Buffer) => (s.length < 1 << 20 ? s + d.toString('utf8') : s);
    child.stdout.on('data', (d: Buffer) => { stdout = cap(stdout, d); });
    child.stderr.on('data', (d: Buffer) => { stderr = cap(stderr, d); });
    let killedFor: 'hang' | 'oom' | undefined;
    let peak = 0;
    const watch = setInterval(() => {
      const rss = rssMb(child.pid!);
      peak = Math.max(peak, rss);
      if (rss > limits.rssMb) { killedFor = 'oom'; child.kill('SIGKILL'); }
      else if (Date.now() - t0 > limits.timeoutMs) { killedFor = 'hang'; child.kill('SIGKILL'); }
    }, 25);
    child.on('close', (code, signal) => {
      clearInterval(watch);
      const ms = Date.now() - t0;
      const outsideWrites = diff(before, snapshot(dir, isOut));
      const outsideReads: string[] = [];
      for (const [f, a] of atimes) if (fs.statSync(f).atimeMs !== a) outsideReads.push(f);
      const outFiles = walk(outDir).map((f) => { try { return fs.readFileSync(f, 'latin1'); } catch { return ''; } });
      if ([stdout, stderr, ...outFiles].some((t) => t.includes(canary))) outsideReads.push('canary text in the output');
      const lines = stderr.split('\n');
      const errLine = lines.findIndex((l) => l.startsWith('neuron-lens: '));
      const message = errLine >= 0 ? lines.slice(errLine).join('\n').trim() : stderr.trim().split('\n').slice(-8).join('\n');
      let outcome: Outcome;
      if (killedFor) outcome = killedFor;
      else if (signal || (code !== 0 && code !== 1 && code !== 2)) outcome = /heap out of memory|Allocation failed/.test(stderr) ? 'oom' : 'crash';
      else if (code === 0) outcome = c.expect === 'error' ? 'wrong' : 'ok';
      else if (errLine < 0 || /^\s+at .+:\d+:\d+\)?$/m.test(stderr)) outcome = 'crash';
      else outcome = unclearReasons(message, namesOf(c, dir, args)).length ? 'unclear' : 'clear';
      if (outcome === 'clear' && c.expect === 'ok') outcome = 'wrong';
      resolve({ c, outcome, outsideReads, outsideWrites, code, signal, ms, peakRssMb: Math.round(peak), message: message.slice(0, 600) });
    });
  });
}

/** Runs every case, `parallel` at a time, each in `root/c/<n>`. */
export async function runAll(cli: string, cases: Case[], root: string, limits: Limits, parallel: number, onResult?: (r: Result) => void): Promise<Result[]> {
  const canary = canaryText(root);
  const results: Result[] = new Array(cases.length);
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const i = next++;
      const dir = path.join(root, 'c', String(i));
      materialize(dir, cases[i], canary);
      results[i] = await runCase(cli, cases[i], dir, canary, limits);
      onResult?.(results[i]);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return results;
}

export interface Totals {
  cases: number; clear: number; ok: number; unclear: number; wrong: number;
  crash: number; hang: number; oom: number; outsideReads: number; outsideWrites: number;
}

export function totals(results: Result[]): Totals {
  const n = (o: Outcome) => results.filter((r) => r.outcome === o).length;
  return {
    cases: results.length, clear: n('clear'), ok: n('ok'), unclear: n('unclear'), wrong: n('wrong'),
    crash: n('crash'), hang: n('hang'), oom: n('oom'),
    outsideReads: results.filter((r) => r.outsideReads.length).length,
    outsideWrites: results.filter((r) => r.outsideWrites.length).length,
  };
}

export function isFailure(r: Result): boolean {
  return !['clear', 'ok'].includes(r.outcome) || r.outsideReads.length > 0 || r.outsideWrites.length > 0;
}
