// TF.js graph model against its layers twin, same network, same run: MobileNet v1 0.25 224 from the shared fixtures
// (`mobilenet_v1_0.25_224_graph`, TF-Hub's graph, against `mobilenet_v1_0.25_224`). Each case runs in its own
// process (bench/run.ts --case), alternating, R repeats; prints the median ms per AM step of each and the ratio.
//   npx tsx bench/graph.ts [--backend wasm] [--batch 1] [--steps 10] [--repeats 2]
import { spawnSync } from 'child_process';
import * as path from 'path';
import { fixture } from '../src/core/testing/fixtures';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
}
const backend = arg('backend', 'wasm');
const batch = arg('batch', '1');
const steps = arg('steps', '10');
const repeats = Number(arg('repeats', '2'));
const cases = { graph: fixture('models', 'mobilenet_v1_0.25_224_graph'), layers: fixture('models', 'mobilenet_v1_0.25_224') };
const ms: Record<string, number[]> = { graph: [], layers: [] };
for (let r = 0; r < repeats; r++) {
  for (const [name, dir] of Object.entries(cases)) {
    const p = spawnSync(process.execPath, [...process.execArgv, path.join(__dirname, 'run.ts'), '--case', 'mobilenet_v1', backend, batch, steps, 'fold', dir], { encoding: 'utf8', timeout: 600000 });
    const line = p.stdout.split('\n').find((l) => l.startsWith('{'));
    if (p.status !== 0 || !line) throw new Error(`${name} case failed: ${(p.stderr || '').trim().split('\n').pop()}`);
    const res = JSON.parse(line);
    ms[name].push(res.msPerStep);
    console.log(`${name.padEnd(6)} ${res.backend} batch ${batch}: ${res.msPerStep.toFixed(1)} ms/step, steps [${res.stepMs.join(' ')}], tensor growth ${res.tensorGrowthPerRun}`);
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`graph ${med(ms.graph).toFixed(1)} ms/step, layers ${med(ms.layers).toFixed(1)} ms/step: graph/layers ${(med(ms.graph) / med(ms.layers)).toFixed(2)}x`);
