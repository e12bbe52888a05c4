// Integration tests that run inside the real extension host (VS Code's extension test API), with the
// real vscode module and the real engine process. Bundled by test/e2e/run.js; `run` is the entry.
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { NeuronLensApi } from '../../../src/extension';
import type { Node } from '../../../src/ui/tree';
import type { RunOutcome } from '../../../src/ui/panel';
import type { AttackPanelState } from '../../../src/ui/attackProtocol';

const tests: { name: string; fn: () => Promise<void> }[] = [];
const test = (name: string, fn: () => Promise<void>) => tests.push({ name, fn });

let api: NeuronLensApi;
const ws = () => vscode.workspace.workspaceFolders![0].uri.fsPath;
const tiny = () => path.join(ws(), 'models', 'tiny', 'model.json');
const large = () => path.join(ws(), 'models', 'large', 'model.json');
const broken = () => path.join(ws(), 'models', 'broken.onnx');

async function children(n?: Node): Promise<Node[]> {
  return (await api.tree.getChildren(n)) ?? [];
}

async function layerNode(modelPath: string, name: string): Promise<Extract<Node, { type: 'layer' }>> {
  const model = (await children()).find((n) => n.type === 'model' && n.path === modelPath);
  assert.ok(model, `model ${modelPath} is not in the tree`);
  const layer = (await children(model)).find((n) => n.type === 'layer' && n.layer.name === name);
  assert.ok(layer && layer.type === 'layer', `layer ${name} is not in the tree`);
  return layer;
}

test('activates and registers every contributed command', async () => {
  const ext = vscode.extensions.getExtension('neuron-lens.neuron-lens');
  assert.ok(ext, 'extension not found');
  api = (await ext.activate()) as NeuronLensApi;
  const all = await vscode.commands.getCommands(true);
  const contributed = (ext.packageJSON.contributes.commands as { command: string }[]).map((c) => c.command);
  for (const c of contributed) assert.ok(all.includes(c), `command ${c} is not registered`);
  // Declared: limited in untrusted workspaces (ui/trust.ts); this one is trusted, so every model may load.
  assert.strictEqual(ext.packageJSON.capabilities.untrustedWorkspaces.supported, 'limited');
  assert.strictEqual(vscode.workspace.isTrusted, true);
  assert.strictEqual(api.store.refusal(tiny()), undefined);
  await vscode.workspace.getConfiguration('neuronLens').update('steps', 4, vscode.ConfigurationTarget.Global);
  await vscode.workspace.getConfiguration('neuronLens').update('previewEvery', 2, vscode.ConfigurationTarget.Global);
});

test('discovers the workspace models without loading any, and describes layers when a model is expanded', async () => {
  await api.store.discover();
  const models = (await children()).filter((n) => n.type === 'model').map((n) => (n as { path: string }).path);
  for (const m of [tiny(), large(), broken()]) assert.ok(models.includes(m), `${m} not discovered: ${models.join(', ')}`);
  // Listing (and CodeLens) loaded nothing: the engine has not even started.
  assert.deepStrictEqual(api.store.loadedModels(), []);
  assert.strictEqual(api.engine.starts, 0);
  assert.strictEqual(api.store.status(tiny()), undefined);
  const model = (await children()).find((n) => n.type === 'model' && n.path === tiny())!;
  const layers = (await children(model)).map((n) => n.type === 'layer' ? n.layer.name : n.type);
  assert.deepStrictEqual(layers, ['conv_a', 'conv_b', 'pool', 'logits', 'probs']);
  assert.strictEqual(api.store.status(tiny())?.state, 'loaded');
  assert.match(String(api.tree.getTreeItem(model).tooltip), /6 layers, input \[\?×32×32×3\]/);
  const logits = await layerNode(tiny(), 'logits');
  const item = api.tree.getTreeItem(logits);
  assert.strictEqual(item.contextValue, 'nl.layer.logits');
  assert.match(String(item.description), /Dense \[\?×10\] · logits/);
  const units = await children(logits);
  assert.strictEqual(units.length, 10);
  assert.strictEqual(api.tree.getTreeItem(units[7]).label, 'class 7 · sneaker');
  const conv = api.tree.getTreeItem((await children(await layerNode(tiny(), 'conv_b')))[3]);
  assert.strictEqual(conv.label, 'channel 3');
  assert.strictEqual(conv.contextValue, 'nl.unit');
});

test('pages wide layers (256 channels in pages of 64)', async () => {
  const mobilenet = path.join(ws(), 'models', 'mobilenet_v1_0.25_224', 'model.json');
  const layer = await layerNode(mobilenet, 'conv_pw_13');
  assert.strictEqual(layer.layer.channels, 256);
  const pages = await children(layer);
  assert.deepStrictEqual(pages.map((p) => String(api.tree.getTreeItem(p).label)), ['channels 0–63', 'channels 64–127', 'channels 128–191', 'channels 192–255']);
  const last = await children(pages[3]);
  assert.strictEqual(last.length, 64);
  assert.strictEqual(api.tree.getTreeItem(last[63]).label, 'channel 255');
});

test('visualizes a channel in the panel, then serves it from the cache', async () => {
  const unit = (await children(await layerNode(tiny(), 'conv_b')))[2];
  const first = (await vscode.commands.executeCommand('neuronLens.visualizeUnit', unit)) as RunOutcome;
  assert.ok(first, 'the visualization failed');
  assert.strictEqual(first.state.status, 'done');
  assert.strictEqual(first.state.cells.length, 1);
  assert.strictEqual(first.state.cells[0].spec, 'channel:conv_b:2');
  assert.ok(first.state.cells[0].png.length > 100);
  assert.strictEqual(first.state.cells[0].steps, 4);
  assert.strictEqual(first.fromCache, 0);
  const again = (await vscode.commands.executeCommand('neuronLens.visualizeUnit', unit)) as RunOutcome;
  assert.strictEqual(again.fromCache, 1);
  assert.strictEqual(again.state.cells[0].png, first.state.cells[0].png);
  assert.match(again.state.message ?? '', /1 from cache/);
});

test('visualizes a range of channels and compares parameterizations', async () => {
  const layer = await layerNode(tiny(), 'conv_a');
  const r = (await vscode.commands.executeCommand('neuronLens.visualizeChannels', layer, '0-1,5')) as RunOutcome;
  assert.deepStrictEqual(r.state.cells.map((c) => c.spec), ['channel:conv_a:0', 'channel:conv_a:1', 'channel:conv_a:5']);
  assert.ok(r.state.cells.every((c) => c.png && c.activation !== null));
  const unit = (await children(layer))[1];
  const cmp = (await vscode.commands.executeCommand('neuronLens.compareParameterizations', unit)) as RunOutcome;
  // Every parameterization the engine registers, side by side.
  const params = (await api.engine.start()).capabilities.params.map((p) => p.name);
  assert.ok(params.includes('pixel') && params.includes('fourier'), params.join());
  assert.deepStrictEqual(cmp.state.cells.map((c) => c.tag), params);
  assert.notStrictEqual(cmp.state.cells[0].png, cmp.state.cells[1].png);
});

test('"Visualize as…" offers the layer\'s unit kinds from the engine and expands the spec', async () => {
  const layer = await layerNode(tiny(), 'conv_b');
  assert.deepStrictEqual(layer.layer.unitKinds, ['channel', 'neuron', 'direction', 'cosine']);
  const r = (await vscode.commands.executeCommand('neuronLens.visualizeAs', layer, { kind: 'neuron', spec: 'neuron:conv_b:0-1' })) as RunOutcome;
  assert.deepStrictEqual(r.state.cells.map((c) => c.spec), ['neuron:conv_b:0', 'neuron:conv_b:1']);
  assert.ok(r.state.cells.every((c) => c.png && c.activation !== null));
});

test('a model file that fails to load shows the error on its node, and a running job of another model goes on', async () => {
  await vscode.workspace.getConfiguration('neuronLens').update('steps', 10000, vscode.ConfigurationTarget.Global);
  const unit = (await children(await layerNode(tiny(), 'conv_a')))[4];
  const pending = vscode.commands.executeCommand('neuronLens.visualizeUnit', unit) as Thenable<RunOutcome | undefined>;
  const panelOf = () => api.panels().find((p) => p.current.units[0] === 'channel:conv_a:4' && p.current.status === 'running');
  for (let i = 0; i < 600 && !panelOf()?.current.cells[0]?.png; i++) await new Promise((r) => setTimeout(r, 100));
  const panel = panelOf();
  assert.ok(panel, 'the long job did not start');
  const starts = api.engine.starts;
  const node = (await children()).find((n) => n.type === 'model' && n.path === broken())!;
  const kids = await children(node);
  assert.strictEqual(kids.length, 1);
  assert.strictEqual(kids[0].type, 'error');
  assert.match(String(api.tree.getTreeItem(kids[0]).label), /broken\.onnx: not a valid ONNX model/);
  const item = api.tree.getTreeItem(node);
  assert.strictEqual((item.iconPath as vscode.ThemeIcon).id, 'error');
  assert.match(String(item.tooltip), /not a valid ONNX model/);
  assert.match(String(item.description), /failed to load/);
  // The job still runs, in the same engine; Cancel ends it with its images.
  const before = panel.current.cells[0].steps;
  for (let i = 0; i < 600 && panel.current.cells[0].steps === before; i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(panel.current.cells[0].steps > before, 'the job stopped making progress');
  await panel.cancel();
  const r = await pending;
  assert.strictEqual(r?.state.status, 'cancelled');
  assert.strictEqual(api.engine.starts, starts);
  await vscode.workspace.getConfiguration('neuronLens').update('steps', 4, vscode.ConfigurationTarget.Global);
});

test('Cancel stops a model load at once (the engine restarts), and the next load works', async () => {
  const load = api.store.load(large());
  for (let i = 0; i < 100 && api.store.status(large())?.state !== 'loading'; i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  assert.strictEqual(await api.store.cancelLoad(large()), true);
  await assert.rejects(load, /^Error: Neuron Lens: cancelled loading model\.json \(the engine was restarted to stop it\)$/);
  console.log(`[suite]   a load was cancelled in ${Date.now() - t0} ms`);
  assert.strictEqual(api.store.status(large()), undefined, 'a cancelled load leaves the model unloaded');
  const starts = api.engine.starts;
  assert.strictEqual((await api.engine.loadModel({ path: tiny() })).description.name, 'tiny');
  assert.strictEqual(api.engine.starts, starts + 1);
});

test('CodeLens: "Open in Neuron Lens" on a model path and "Visualize <layer>" on a layer name of a loaded model', async () => {
  const doc = await vscode.workspace.openTextDocument(path.join(ws(), 'train.py'));
  await vscode.window.showTextDocument(doc);
  api.codeLens.refreshLayers();
  const lenses = (await vscode.commands.executeCommand('vscode.executeCodeLensProvider', doc.uri)) as vscode.CodeLens[];
  const titles = lenses.map((l) => l.command?.title);
  assert.ok(titles.includes('Visualize conv_a'), titles.join(', '));
  assert.ok(titles.includes('Visualize conv_b'), titles.join(', '));
  const open = lenses.find((l) => l.command?.title === 'Open in Neuron Lens');
  assert.ok(open, titles.join(', '));
  assert.strictEqual((open.command!.arguments![0] as vscode.Uri).fsPath, tiny());
  assert.strictEqual(api.store.status(large()), undefined, 'CodeLens loads no model');
});

test('attacks a fixture photo toward a target class and shows the result in the attack panel', async () => {
  const model = path.join(ws(), 'models', 'mobilenet_v1_0.25_224', 'model.json');
  const image = path.join(ws(), 'images', 'coral_bird.png');
  const epsilon = 0.03;
  const s = (await vscode.commands.executeCommand('neuronLens.attackImage', { model, image, target: 309, epsilon, steps: 30 })) as AttackPanelState | undefined;
  assert.ok(s, 'the attack command returned nothing (see the Neuron Lens log)');
  assert.strictEqual(s.status, 'done', s.message);
  const r = s.result;
  assert.ok(r, 'no result in the panel state');
  assert.strictEqual(r.target, 309);
  assert.strictEqual(r.image, image);
  assert.ok(r.linf <= epsilon + 1e-6, `L-inf ${r.linf} exceeds epsilon ${epsilon}`);
  assert.ok(r.l2 > 0, 'the perturbation is empty');
  assert.strictEqual(r.top5Before.length, 5);
  assert.strictEqual(r.top5After.length, 5);
  assert.notStrictEqual(r.top5Before[0].index, 309, 'the photo already shows the target class');
  assert.ok(r.success, `the attack did not reach class 309 in 30 steps at epsilon ${epsilon}: ${s.message}`);
  assert.strictEqual(r.top5After[0].index, 309);
  for (const png of [r.original, r.adversarial, r.perturbation]) assert.ok(png.length > 1000, 'an attack image is missing');
  const panel = api.attackPanel();
  assert.ok(panel, 'no attack panel');
  assert.strictEqual(panel.current.result?.adversarial, r.adversarial);
  assert.match(panel.current.message ?? '', /^AM ε 0\.03: success/);
  // A bad image file gives no result (and an error message), not a crash.
  const bad = await vscode.commands.executeCommand('neuronLens.attackImage', { model, image: path.join(ws(), 'train.py'), target: 1 });
  assert.strictEqual(bad, undefined);
});

test('a killed engine fails the running job with a clear message, and the next run restarts it', async () => {
  await vscode.workspace.getConfiguration('neuronLens').update('steps', 10000, vscode.ConfigurationTarget.Global);
  const unit = (await children(await layerNode(tiny(), 'conv_a')))[6];
  const pending = vscode.commands.executeCommand('neuronLens.visualizeUnit', unit) as Thenable<RunOutcome | undefined>;
  // Wait until the job runs (a preview arrives), then kill the engine process.
  const panelOf = () => api.panels().find((p) => p.current.units[0] === 'channel:conv_a:6' && p.current.status === 'running');
  for (let i = 0; i < 600 && !panelOf()?.current.cells[0]?.png; i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(panelOf(), 'the long job did not start');
  const starts = api.engine.starts;
  process.kill(api.engine.pid!, 'SIGKILL');
  assert.strictEqual(await pending, undefined);
  const panel = api.panels().find((p) => p.current.units[0] === 'channel:conv_a:6')!;
  assert.strictEqual(panel.current.status, 'error');
  assert.match(panel.current.message ?? '', /engine was killed \(SIGKILL\) while running visualize/);
  await vscode.workspace.getConfiguration('neuronLens').update('steps', 3, vscode.ConfigurationTarget.Global);
  const r = (await vscode.commands.executeCommand('neuronLens.visualizeUnit', unit)) as RunOutcome;
  assert.strictEqual(r.state.status, 'done');
  assert.strictEqual(api.engine.starts, starts + 1);
});

test('shows the dataset examples of the example folder under each image ("Choose Example Images…")', async () => {
  const folder = path.join(ws(), 'examples');
  assert.strictEqual(await vscode.commands.executeCommand('neuronLens.chooseExampleImages', folder), folder);
  assert.strictEqual(vscode.workspace.getConfiguration('neuronLens').get('exampleImages'), folder);
  const r = (await vscode.commands.executeCommand('neuronLens.visualizeChannels', await layerNode(tiny(), 'conv_b'), '0-2')) as RunOutcome;
  assert.strictEqual(r.state.status, 'done');
  assert.strictEqual(r.state.examples?.status, 'done', r.state.examples?.message);
  const photos = fs.readdirSync(folder);
  for (const c of r.state.cells) {
    const ex = c.examples ?? [];
    assert.strictEqual(ex.length, 9, `${c.spec}: ${ex.length} examples`);
    assert.ok(ex.every((e, i) => photos.includes(e.image) && e.png.length > 1000 && (i === 0 || ex[i - 1].activation >= e.activation)), `${c.spec}: ${JSON.stringify(ex.map((e) => [e.image, e.activation]))}`);
  }
  assert.notDeepStrictEqual(r.state.cells[0].examples!.map((e) => e.image), r.state.cells[1].examples!.map((e) => e.image), 'each unit ranks the photos its own way');
});

export async function run(): Promise<void> {
  const failed: string[] = [];
  for (const t of tests) {
    const t0 = Date.now();
    try {
      await t.fn();
      console.log(`[suite] ✔ ${t.name} (${Date.now() - t0} ms)`);
    } catch (e) {
      failed.push(t.name);
      console.log(`[suite] ✘ ${t.name}: ${(e as Error).stack ?? e}`);
    }
  }
  console.log(`[suite] ${tests.length - failed.length} passing, ${failed.length} failing`);
  for (const k of ['steps', 'previewEvery', 'exampleImages']) await vscode.workspace.getConfiguration('neuronLens').update(k, undefined, vscode.ConfigurationTarget.Global);
  if (fs.existsSync(ws()) && failed.length) throw new Error(`${failed.length} extension-host test(s) failed: ${failed.join('; ')}`);
}
