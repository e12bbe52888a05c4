// The attack panel's own code (runs in the webview, bundled by esbuild with its controls).
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import '@vscode-elements/elements/dist/vscode-label/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import { AttackControls, AttackPanelState, ToAttackWebview, type FromAttackWebview } from '../ui/attackProtocol';
import { h, initialState, vscodeApi } from './common';

const vscode = vscodeApi<FromAttackWebview>();
const app = document.getElementById('app')!;

let state = initialState(vscode, AttackPanelState);
let progress = { fraction: 0, text: '' };

type ClassProb = { index: number; name?: string; prob: number };

const fmt = (x: number, digits = 4) => (Math.abs(x) >= 1000 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(2) : x.toFixed(digits));

/** A range input with its value shown beside it. */
function slider(id: string, label: string, value: number, min: number, max: number, step: number, title: string): HTMLElement {
  const input = h('input', { type: 'range', id, min: String(min), max: String(max), step: String(step), value: String(value), title }) as HTMLInputElement;
  const out = h('output', { for: id, id: `${id}-value`, class: 'slider-value' }, fmt(value));
  input.addEventListener('input', () => { out.textContent = fmt(Number(input.value)); });
  return h('div', { class: 'field slider' }, h('vscode-label', { for: id }, label), h('div', { class: 'row' }, input, out));
}

function readControls(): AttackControls | null {
  const val = (id: string) => String((document.getElementById(id) as unknown as { value: string } | null)?.value ?? '').trim();
  const r = AttackControls.safeParse({ method: val('method'), epsilon: Number(val('epsilon')), tv: Number(val('tv')), steps: Number(val('steps')) });
  if (!r.success) {
    setStatus(`Check the settings: ${r.error.issues.map((i) => `${i.path.join('.')} ${i.message.toLowerCase()}`).join('; ')}`);
    return null;
  }
  return r.data;
}

function setStatus(text: string): void {
  const el = document.getElementById('status');
  if (el) el.textContent = text;
}

function figure(id: string, caption: string, png: string | undefined, running: boolean): HTMLElement {
  const media = png
    ? h('img', { src: `data:image/png;base64,${png}`, alt: caption, class: 'attack-image' })
    : h('div', { class: 'placeholder attack-image' }, running ? h('vscode-progress-ring') : 'no image');
  return h('figure', { class: 'card', id }, media, h('figcaption', { class: 'meta' }, h('span', { class: 'label' }, caption)));
}

function top5(id: string, title: string, rows: ClassProb[], highlight: number): HTMLElement {
  const list = h('ol', { class: 'top5', id });
  for (const r of rows) {
    const pct = `${(r.prob * 100).toFixed(1)}%`;
    const bar = h('span', { class: 'bar' });
    bar.style.width = `${Math.max(0, Math.min(100, r.prob * 100))}%`;
    list.append(h('li', { class: r.index === highlight ? 'target' : '' },
      h('span', { class: 'name', title: `class ${r.index}` }, r.name ?? `class ${r.index}`),
      h('span', { class: 'prob' }, pct),
      h('span', { class: 'track' }, bar)));
  }
  return h('section', { class: 'top5-box' }, h('h2', {}, title), list);
}

function render(): void {
  app.replaceChildren();
  if (!state) {
    app.append(h('p', { class: 'empty' }, 'Run "Neuron Lens: Attack Image…" from the command palette, or right-click an image in the Explorer.'));
    return;
  }
  const c = state.controls;
  const running = state.status === 'running';
  const fileName = state.image.split(/[\\/]/).pop() ?? state.image;
  const header = h('header', {},
    h('div', { class: 'title' }, h('h1', {}, `${fileName} → ${state.targetLabel}`), h('span', { class: 'dim' }, state.modelName)),
    h('div', { id: 'status', class: `status ${state.status}`, role: 'status' }, running ? progress.text || 'Starting…' : state.message ?? ''),
  );
  const method = h('vscode-single-select', { id: 'method' });
  for (const m of ['am', 'fgsm', 'pgd']) method.append(h('vscode-option', { value: m, selected: m === c.method }, m));
  const run = h('vscode-button', { id: 'rerun', disabled: running }, running ? 'Running…' : 'Re-run');
  run.addEventListener('click', () => { const ctl = readControls(); if (ctl) vscode.postMessage({ type: 'run', controls: ctl }); });
  const cancel = h('vscode-button', { id: 'cancel', secondary: true, disabled: !running }, 'Cancel');
  cancel.addEventListener('click', () => vscode.postMessage({ type: 'cancel' }));
  const toolbar = h('div', { class: 'toolbar' },
    h('div', { class: 'field' }, h('vscode-label', { for: 'method' }, 'Method'), method),
    slider('epsilon', 'Epsilon (L∞, 0–1 scale)', c.epsilon, 0.001, 0.1, 0.001, 'Largest change of any pixel value'),
    slider('tv', 'Lambda (TV weight, AM)', c.tv, 0, 0.001, 0.00001, 'Weight of the total-variation penalty on the perturbation; only AM uses it'),
    h('div', { class: 'field narrow' }, h('vscode-label', { for: 'steps' }, 'Steps'), h('vscode-textfield', { id: 'steps', value: String(c.steps) })),
    h('div', { class: 'buttons' }, run, cancel),
  );
  const bar = h('vscode-progress-bar', { id: 'progress', class: running ? '' : 'hidden', 'aria-label': 'Attack progress' });
  (bar as unknown as { value: number; max: number }).max = 1;
  (bar as unknown as { value: number }).value = progress.fraction;
  const r = state.result;
  const images = h('div', { id: 'attack', class: 'attack-row', 'data-status': state.status },
    figure('original', r ? `original · ${r.originalName ?? `class ${r.originalClass}`} ${(r.originalProb * 100).toFixed(1)}%` : 'original', r?.original, running),
    figure('perturbation', 'perturbation × 10', r?.perturbation, running),
    figure('adversarial', r ? `adversarial · ${r.finalName ?? `class ${r.finalClass}`} ${(r.finalProb * 100).toFixed(1)}%` : 'adversarial', r?.adversarial, running),
  );
  app.append(header, toolbar, bar, images);
  if (r) {
    const metrics = h('dl', { id: 'metrics', class: 'metrics' });
    const add = (k: string, v: string, cls = '') => metrics.append(h('dt', {}, k), h('dd', { class: cls }, v));
    add('success', r.success ? `yes${r.successAfterQuantization ? '' : ' (lost after 8-bit rounding)'}` : 'no', r.success ? 'ok' : 'bad');
    add('target prob', `${(r.targetProb * 100).toFixed(1)}%`);
    add('L∞', fmt(r.linf));
    add('L2', fmt(r.l2));
    add('steps', r.stepsToSuccess !== null ? `${r.stepsToSuccess} to success (${r.stepsRun} run)` : `${r.stepsRun}`);
    add('TV', fmt(r.tv));
    add('PSNR', `${r.psnr.toFixed(1)} dB`);
    add('SSIM', r.ssim.toFixed(4));
    app.append(h('div', { class: 'attack-results' },
      top5('top5-before', 'Top-5 before', r.top5Before, r.target),
      top5('top5-after', 'Top-5 after', r.top5After, r.target),
      h('section', { class: 'top5-box' }, h('h2', {}, 'Metrics'), metrics)));
  }
}

window.addEventListener('message', (e: MessageEvent) => {
  const r = ToAttackWebview.safeParse(e.data);
  if (!r.success) return;
  const m = r.data;
  if (m.type === 'state') {
    if (m.state.status !== 'running') progress = { fraction: 0, text: '' };
    state = m.state;
    vscode.setState(state);
    render();
    return;
  }
  progress = { fraction: m.fraction, text: m.text };
  const bar = document.getElementById('progress') as unknown as { value: number } | null;
  if (bar) bar.value = m.fraction;
  setStatus(m.text);
});

render();
vscode.postMessage({ type: 'ready' });
