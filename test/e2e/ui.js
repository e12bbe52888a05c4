// The UI steps of the end-to-end test (see run.js), driven through playwright-core.
'use strict';
const assert = require('assert');
const fs = require('fs');
const path = require('path');

const VIEWPORT = { width: 1400, height: 860 };

/** The panel's content frame (webviews are an iframe holding another iframe). */
function webview(page) {
  return page.frameLocator('iframe.webview.ready').last().frameLocator('#active-frame');
}

async function shot(page, ctx, name) {
  const file = path.join(ctx.artifacts, `e2e-${name}.png`);
  await page.screenshot({ path: file });
  ctx.say(`screenshot ${path.basename(file)}`);
}

/** Spread (standard deviation) of each grid image's RGB values, computed in the webview from the pixels. */
async function imageSpreads(frame) {
  return frame.locator('#grid .card img.unit-image').evaluateAll((imgs) => imgs.map((img) => {
    const c = document.createElement('canvas');
    c.width = img.naturalWidth;
    c.height = img.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let s = 0; let s2 = 0; let n = 0;
    for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) { s += d[i + k]; s2 += d[i + k] * d[i + k]; n++; }
    const m = s / n;
    return { w: c.width, h: c.height, std: Math.sqrt(Math.max(0, s2 / n - m * m)) };
  }));
}

/** Opens the quick input (focus taken out of any webview first), types `text`, and picks the row showing `row`. */
async function quickPick(page, text, row) {
  await page.locator('.part.sidebar .title-label').first().click();
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await input.waitFor();
  await input.fill(text);
  const hit = page.locator('.quick-input-list .monaco-list-row', { hasText: row }).first();
  await hit.waitFor();
  await hit.click();
}

async function openWorkbench(browser, url) {
  const page = await browser.newPage({ viewport: VIEWPORT });
  await page.goto(url);
  await page.locator('.monaco-workbench').waitFor({ timeout: 90000 });
  return page;
}

async function runUiTest(ctx) {
  const page = await openWorkbench(ctx.browser, `http://127.0.0.1:${ctx.port}/?folder=${encodeURIComponent(ctx.ws)}`);
  try {
    await uiSteps(page, ctx);
  } catch (e) {
    await shot(page, ctx, 'failure').catch(() => undefined);
    throw e;
  } finally {
    await page.close();
  }
}

async function uiSteps(page, ctx) {
  const { say } = ctx;
  page.setDefaultTimeout(60000);
  say('workbench loaded');
  await page.locator('.activitybar [aria-label^="Neuron Lens"]').first().click();
  const tree = page.locator('.pane-body [role="tree"][aria-label*="Models"], [id="workbench.view.extension.neuronLens"] [role="tree"]').first();
  await tree.waitFor();
  const model = tree.getByRole('treeitem', { name: /mobilenet_v1_0\.25_224/ }).first();
  await model.waitFor();
  await model.click();
  const layer = tree.getByRole('treeitem', { name: /^conv_pw_2\b/ }).first();
  await layer.waitFor({ timeout: 90000 });
  say('model tree expanded (the engine described the model)');
  await layer.click({ button: 'right' });
  const item = page.locator('.monaco-menu .action-label', { hasText: 'Visualize Layer (first N channels)' }).first();
  await item.waitFor();
  await item.hover();
  await item.click();
  // A menu that opened while the tree was still settling can swallow the first click: the item is
  // highlighted, so Enter chooses it.
  await page.waitForTimeout(500);
  if (await page.locator('.monaco-menu').isVisible()) await page.keyboard.press('Enter');
  const frame = webview(page);
  await frame.locator('#grid[data-status="running"]').waitFor({ timeout: 60000 });
  await frame.locator('#grid[data-status="done"]').waitFor({ timeout: 300000 });
  const cards = await frame.locator('#grid .card').count();
  assert.strictEqual(cards, 4, `expected 4 cards in the grid, found ${cards}`);
  const spreads = await imageSpreads(frame);
  say(`grid images: ${spreads.map((s) => `${s.w}x${s.h} std ${s.std.toFixed(1)}`).join(', ')}`);
  assert.strictEqual(spreads.length, 4);
  // Every image is 224x224 and not constant; most show structure (a channel that is dead on this model
  // legitimately stays almost flat, e.g. conv_pw_2 channel 1 of MobileNet 0.25).
  for (const s of spreads) assert.ok(s.w === 224 && s.h === 224 && s.std > 0.3, `a grid image is blank or the wrong size: ${JSON.stringify(s)}`);
  assert.ok(spreads.filter((s) => s.std > 8).length >= 3, `most grid images should show structure: ${JSON.stringify(spreads)}`);
  const statusText = await frame.locator('#status').textContent();
  assert.match(statusText, /^Done/);
  const statusBar = await page.locator('.statusbar-item', { hasText: 'Neuron Lens:' }).first().textContent();
  assert.match(statusBar.trim(), ctx.statusBar);
  say(`status bar: ${statusBar.trim()}`);
  await shot(page, ctx, '1-dark-grid');

  await frame.locator('#grid .card img.unit-image').first().click();
  await frame.locator('.overlay img').waitFor();
  await shot(page, ctx, '2-dark-enlarged');
  await frame.locator('.overlay').press('Escape');

  // A second, long run, cancelled from the panel while it runs.
  await frame.locator('#steps input').fill('5000');
  await frame.locator('#run').click();
  await frame.locator('#grid[data-status="running"]').waitFor();
  await frame.locator('#status', { hasText: 'step' }).waitFor({ timeout: 120000 });
  await frame.locator('#grid .card img.unit-image').first().waitFor({ timeout: 120000 });
  await shot(page, ctx, '3-dark-running');
  await frame.locator('#cancel').click();
  await frame.locator('#grid[data-status="cancelled"]').waitFor({ timeout: 60000 });
  const cancelled = await frame.locator('#status').textContent();
  assert.match(cancelled, /^Cancelled/);
  say('second run cancelled');
  await shot(page, ctx, '4-dark-cancelled');

  // Light theme (chosen through the command palette): the panel follows the theme variables. Then pixel
  // vs Fourier side by side for the first unit, with the settings in the panel's toolbar.
  await quickPick(page, '>Preferences: Color Theme', 'Preferences: Color Theme');
  const themeInput = page.locator('.quick-input-widget input[placeholder*="Color Theme"]');
  await themeInput.waitFor();
  await themeInput.fill('Light Modern');
  const light = page.locator('.quick-input-list .monaco-list-row', { hasText: 'Light Modern' }).first();
  await light.waitFor();
  await light.click();
  await page.locator('.monaco-workbench.vs').waitFor({ timeout: 30000 });
  await frame.locator('#steps input').fill('12');
  await frame.locator('#grid .card .compare-link').first().click();
  await frame.locator('#grid.compare[data-status="running"]').waitFor();
  await frame.locator('#grid.compare[data-status="done"]').waitFor({ timeout: 300000 });
  // One card per registered parameterization (pixel and fourier are built in).
  const tags = (await frame.locator('#grid .card vscode-badge').allTextContents()).map((t) => t.trim());
  assert.deepStrictEqual(tags.slice(0, 2), ['pixel', 'fourier']);
  assert.strictEqual(tags.length, await frame.locator('#grid .card').count());
  const cmp = await imageSpreads(frame);
  for (const s of cmp) assert.ok(s.std > 0.3, `a comparison image is blank: ${JSON.stringify(s)}`);
  await shot(page, ctx, '5-light-compare');

  // CodeLens above the training script's lines: layer lenses come from the models loaded, so expand the
  // tiny model (the one train.py builds) first, after folding MobileNet away; then the broken model file,
  // whose node shows its own error.
  // (A model row's accessible name is its tooltip: the file's path, then its load state.)
  await model.click();
  await tree.getByRole('treeitem', { name: /\/tiny\/model\.json/ }).first().click();
  await tree.getByRole('treeitem', { name: /^conv_a\b/ }).first().waitFor({ timeout: 60000 });
  await tree.getByRole('treeitem', { name: /\/broken\.onnx/ }).first().click();
  await tree.getByRole('treeitem', { name: /^\S*broken\.onnx: not a valid ONNX model/ }).first().waitFor({ timeout: 60000 });
  // Quick open (the command palette without its '>' prefix) for the training script.
  await quickPick(page, 'train.py', 'train.py');
  await page.locator('.codelens-decoration a', { hasText: 'Visualize conv_a' }).first().waitFor({ timeout: 60000 });
  await shot(page, ctx, '6-light-codelens');

  // Explorer context menu of a photo: "Attack with Neuron Lens", then the model and the target class.
  await page.keyboard.press('Control+Shift+E');
  const explorer = page.locator('.explorer-folders-view [role="tree"]').first();
  await explorer.waitFor();
  await explorer.getByRole('treeitem', { name: /^images$/ }).first().click();
  const photo = explorer.getByRole('treeitem', { name: /^coral_bird\.png$/ }).first();
  await photo.waitFor();
  await photo.click({ button: 'right' });
  const attackItem = page.locator('.monaco-menu .action-label', { hasText: 'Attack with Neuron Lens' }).first();
  await attackItem.waitFor();
  await attackItem.hover();
  await attackItem.click();
  await page.waitForTimeout(500);
  if (await page.locator('.monaco-menu').isVisible()) await page.keyboard.press('Enter');
  const pickInput = page.locator('.quick-input-widget .quick-input-box input');
  await pickInput.waitFor();
  await pickInput.fill('mobilenet');
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'mobilenet_v1_0.25_224' }).first().click();
  await page.locator('.quick-input-widget .quick-input-title', { hasText: 'target class' }).waitFor();
  await pickInput.fill('class 309');
  await page.locator('.quick-input-list .monaco-list-row', { hasText: 'class 309' }).first().waitFor();
  await pickInput.press('Enter');
  const attack = webview(page);
  await attack.locator('#attack[data-status="done"]').waitFor({ timeout: 300000 });
  const sizes = await attack.locator('#attack img').evaluateAll((imgs) => imgs.map((i) => `${i.naturalWidth}x${i.naturalHeight}`));
  assert.deepStrictEqual(sizes, ['224x224', '224x224', '224x224']);
  assert.strictEqual(await attack.locator('#top5-after li').count(), 5);
  say(`attack: ${(await attack.locator('#status').textContent()).trim()}`);
  await shot(page, ctx, 'attack');
  // Re-run from the panel with FGSM at a larger epsilon.
  await attack.locator('#epsilon').fill('0.02');
  await attack.locator('#method').evaluate((el) => { el.value = 'fgsm'; });
  await attack.locator('#rerun').click();
  await attack.locator('#status', { hasText: /^FGSM ε 0\.02: / }).waitFor({ timeout: 300000 });
  await attack.locator('#attack[data-status="done"]').waitFor({ timeout: 300000 });
  const linf = Number(await attack.locator('#metrics dd').nth(2).textContent());
  assert.ok(linf > 0 && linf <= 0.02 + 1e-6, `L-inf after the FGSM re-run: ${linf}`);
  say(`attack re-run: ${(await attack.locator('#status').textContent()).trim()}`);
  await shot(page, ctx, 'attack-rerun');

  // "Neuron Lens: Open Atlas…": the folder picker (code-server's simple file dialog), then the atlas viewer
  // (made by run.js in the workspace's atlas/ folder) in a webview: the grid, then a unit's page.
  await quickPick(page, '>Neuron Lens: Open Atlas', 'Neuron Lens: Open Atlas');
  const pathInput = page.locator('.quick-input-widget .quick-input-box input');
  await pathInput.waitFor();
  // The dialog writes its starting folder into the input after it shows: wait for it, then replace it (a fill
  // before it lands gets that folder put in front of the typed path).
  const want = `${path.join(ctx.ws, 'atlas')}/`;
  await page.waitForFunction((el) => el.value.length > 0, await pathInput.elementHandle(), { timeout: 10000 });
  for (let i = 0; i < 5 && (await pathInput.inputValue()) !== want; i++) {
    await pathInput.fill(want);
    await page.waitForTimeout(500);
  }
  assert.strictEqual(await pathInput.inputValue(), want, 'the folder dialog holds the atlas path');
  await page.waitForTimeout(1000);
  // The dialog's OK button carries the command's openLabel; Enter on the typed folder where it has none.
  const ok = page.locator('.quick-input-widget .monaco-button', { hasText: 'Open Atlas' }).first();
  if (await ok.isVisible()) await ok.click(); else await pathInput.press('Enter');
  const atlas = webview(page);
  await atlas.locator('.tile img').first().waitFor({ timeout: 60000 });
  assert.strictEqual(await atlas.locator('.tile img').count(), 32);
  // Tiles load lazily (a layer may have thousands): the first ones, on screen, come from the atlas folder.
  let widths = [];
  for (let k = 0; k < 40; k++) {
    widths = await atlas.locator('.tile img').evaluateAll((imgs) => imgs.slice(0, 2).map((i) => i.naturalWidth));
    if (widths.every((w) => w === 28)) break;
    await page.waitForTimeout(250);
  }
  assert.deepStrictEqual(widths, [28, 28], 'the first tiles loaded from the atlas folder through the webview');
  await shot(page, ctx, 'atlas-grid');
  await atlas.locator('.tile').nth(5).click();
  await atlas.locator('main h2', { hasText: 'conv1 ch5' }).waitFor();
  assert.strictEqual(await atlas.locator('figure img').evaluate((i) => i.naturalWidth), 28);
  say('atlas opened in the editor: grid and a unit page');
  await shot(page, ctx, 'atlas-unit');
}

/**
 * The backend a package's engine runs: open the Models view, expand a model (the engine starts to describe it), and
 * match the status bar against `ctx.statusBar`.
 */
async function runBackendCheck(ctx) {
  const page = await openWorkbench(ctx.browser, `http://127.0.0.1:${ctx.port}/?folder=${encodeURIComponent(ctx.ws)}`);
  try {
    page.setDefaultTimeout(60000);
    await page.locator('.activitybar [aria-label^="Neuron Lens"]').first().click();
    const tree = page.locator('.pane-body [role="tree"][aria-label*="Models"], [id="workbench.view.extension.neuronLens"] [role="tree"]').first();
    await tree.waitFor();
    await tree.getByRole('treeitem', { name: /mobilenet_v1_0\.25_224/ }).first().click();
    await tree.getByRole('treeitem', { name: /^conv_pw_2\b/ }).first().waitFor({ timeout: 90000 });
    const item = page.locator('.statusbar-item', { hasText: 'Neuron Lens:' }).first();
    await item.waitFor();
    const text = (await item.textContent()).trim();
    ctx.say(`status bar: ${text}`);
    await shot(page, ctx, 'universal-status');
    assert.match(text, ctx.statusBar);
  } catch (e) {
    await shot(page, ctx, 'universal-failure').catch(() => undefined);
    throw e;
  } finally {
    await page.close();
  }
}

/** Runs test/e2e/suite inside the extension host, through VS Code's own extension test API. */
async function runExtensionHostTests(ctx) {
  const host = `127.0.0.1:${ctx.port}`;
  const payload = JSON.stringify([
    ['extensionDevelopmentPath', `vscode-remote://${host}${ctx.extensionPath}`],
    ['extensionTestsPath', `vscode-remote://${host}${ctx.suite}`],
  ]);
  const page = await ctx.browser.newPage({ viewport: VIEWPORT });
  let resolveExit;
  const exited = new Promise((r) => { resolveExit = r; });
  await page.exposeFunction('codeAutomationExit', (code) => resolveExit(code));
  await page.exposeFunction('codeAutomationLog', (type, args) => {
    const line = Array.isArray(args) ? args.join(' ') : String(args);
    if (line.includes('[suite]') || type === 'error') console.log(`  [ext-host] ${line}`);
  });
  await page.goto(`http://${host}/?folder=${encodeURIComponent(ctx.ws)}&payload=${encodeURIComponent(payload)}`);
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('extension-host tests did not finish within 6 minutes')), 360000));
  const code = await Promise.race([exited, timeout]);
  await page.screenshot({ path: path.join(ctx.artifacts, 'e2e-7-extension-host-tests.png') }).catch(() => undefined);
  await page.close();
  return code;
}

module.exports = { runUiTest, runBackendCheck, runExtensionHostTests };
