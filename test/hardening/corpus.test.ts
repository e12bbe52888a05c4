// The bad-input corpus (issue 12): every case of cases.ts is written to a temporary folder and run as a CLI
// child process (the CLI bundled as it ships) under a time and memory limit. The test fails on any crash, hang,
// memory blow-up, unclear error, silently accepted bad input, read outside the case's folder (canary files) or
// write outside --out, and prints the totals. NEURON_LENS_CORPUS=<regular expression> runs only the matching cases;
// NEURON_LENS_CORPUS_REPORT=<file> writes every result as a JSON line as it comes; NEURON_LENS_CORPUS_SRC=<folder>
// bundles the CLI of another checkout (e.g. `git archive main src package.json`) to measure it.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as esbuild from 'esbuild';
import { buildCases } from './cases';
import { diff, isFailure, runAll, snapshot, totals, type Limits, type Result } from './harness';
import { REPO } from './models';

// The model budget is lowered so that a model the budget allows fits under the memory limit.
const LIMITS: Limits = { timeoutMs: 20000, rssMb: 1536, heapMb: 1024, modelBytes: 512 * 2 ** 20 };

/** The CLI bundled the way esbuild.js bundles it for dist/ (a fraction of tsx's start-up time per case). */
function bundleCli(dir: string, src = REPO): string {
  const outfile = path.join(dir, 'cli.js');
  esbuild.buildSync({
    nodePaths: [path.join(REPO, 'node_modules')],
    bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning', ignoreAnnotations: true,
    external: ['vscode', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'webgpu', '@tensorflow/tfjs-backend-webgpu'],
    entryPoints: [path.join(src, 'src', 'cli', 'bin.ts')], outfile,
  });
  return outfile;
}

describe('bad-input corpus (CLI, every case in a child process)', function () {
  this.timeout(40 * 60 * 1000);
  let root: string;
  before(() => { root = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-corpus-')); });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('0 crashes, hangs, unclear errors, silent accepts, outside reads and outside writes', async () => {
    const t0 = Date.now();
    const filter = process.env.NEURON_LENS_CORPUS;
    const all = await buildCases();
    const ids = new Set<string>();
    for (const c of all) { assert.ok(!ids.has(c.id), `duplicate case id ${c.id}`); ids.add(c.id); }
    const cases = filter ? all.filter((c) => new RegExp(filter).test(c.id)) : all;
    const cli = bundleCli(path.join(root, 'bundle'), process.env.NEURON_LENS_CORPUS_SRC);
    const isOut = (p: string) => /\/c\/\d+\/out(\/|$)/.test(p);
    const before = snapshot(root, (p) => isOut(p) || p.startsWith(path.join(root, 'c')));
    const report = process.env.NEURON_LENS_CORPUS_REPORT;
    if (report) fs.writeFileSync(report, '');
    const results = await runAll(cli, cases, root, LIMITS, 2, report ? ({ c, ...r }) => fs.appendFileSync(report, `${JSON.stringify({ id: c.id, cls: c.cls, expect: c.expect, ...r })}\n`) : undefined);
    const strayWrites = diff(before, snapshot(root, (p) => isOut(p) || /\/c(\/|$)/.test(p.slice(root.length))));
    const t = totals(results);
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    const classes = [...new Set(cases.map((c) => c.cls))].sort();
    const lines = [
      `bad-input corpus: ${t.cases} cases in ${secs} s (${classes.length} classes: ${classes.join(', ')})`,
      `  clear errors ${t.clear}, valid loads ${t.ok}, unclear errors ${t.unclear}, wrong outcome (no error / refused valid input) ${t.wrong}`,
      `  crashes ${t.crash}, hangs ${t.hang}, memory blow-ups ${t.oom}, outside reads ${t.outsideReads}, outside writes ${t.outsideWrites + (strayWrites.length ? 1 : 0)}`,
    ];
    const failures = results.filter(isFailure);
    for (const r of failures) lines.push(describeFailure(r));
    if (strayWrites.length) lines.push(`  writes outside every case folder: ${strayWrites.join(', ')}`);
    console.log(lines.join('\n'));
    assert.deepEqual(failures.map((r) => `${r.c.id}: ${r.outcome}`), []);
    assert.deepEqual(strayWrites, []);
  });
});

function describeFailure(r: Result): string {
  const what = [r.outcome, ...(r.outsideReads.length ? [`read outside: ${r.outsideReads.map((f) => path.basename(f)).join(', ')}`] : []), ...(r.outsideWrites.length ? [`wrote outside: ${r.outsideWrites.join(', ')}`] : [])];
  return `  FAIL ${r.c.id} [${r.c.cls}] ${what.join('; ')} (exit ${r.code ?? r.signal}, ${r.ms} ms, ${r.peakRssMb} MB): ${r.message.replace(/\s+/g, ' ').slice(0, 300)}`;
}
