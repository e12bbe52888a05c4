// The visualization panel's own code (runs in the webview, bundled by esbuild with its controls).
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import '@vscode-elements/elements/dist/vscode-label/index.js';
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import { VisualizeSettings } from '../engine/protocol';
import { PanelState, ToWebview, type Cell, type FromWebview } from '../ui/webviewProtocol';
import { h, initialState, vscodeApi } from './common';

const vscode = vscodeApi<FromWebview>();
const app = document.getElementById('app')!;

let state = initialState(vscode, PanelState);
let progress = { fraction: 0, text: '' };

function field(id: string, label: string, value: string, width = 'narrow'): HTMLElement {
  return h('div', { class: `field ${width}` }, h('vscode-label', { for: id }, label), h('vscode-textfield', { id, value }));
}

function select(id: string, label: string, value: string, options: (string | { value: string; label: string; title?: string })[]): HTMLElement {
  const s = h('vscode-single-select', { id });
  for (const o of options) {
    const { value: v, label: l, title } = typeof o === 'string' ? { value: o, label: o, title: undefined } : o;
    s.append(h('vscode-option', { value: v, selected: v === value, ...(title ? { description: title } : {}) }, l));
  }
  return h('div', { class: 'field' }, h('vscode-label', { for: id }, label), s);
}

/** The engine's parameterizations (from its registry); the current one even before the engine answered. */
function paramOptions(current: string): { value: string; label: string; title: string }[] {
  const known = state?.params ?? [];
  const opts = known.map((p) => ({ value: p.name, label: p.name, title: `${p.title}: ${p.description}` }));
  return opts.some((o) => o.value === current) ? opts : [{ value: current, label: current, title: current }, ...opts];
}

const valueOf = (id: string) => String((document.getElementById(id) as unknown as { value: string }).value ?? '').trim();

function readSettings(): VisualizeSettings | null {
  if (!state) return null;
  const num = (id: string) => (valueOf(id) === '' ? undefined : Number(valueOf(id)));
  const raw = {
    ...state.settings,
    param: valueOf('param'),
    steps: num('steps'),
    size: num('size'),
    lr: num('lr'),
    seed: num('seed'),
    transforms: valueOf('transforms'),
  };
  if (!num('size')) delete (raw as { size?: number }).size;
  const r = VisualizeSettings.safeParse(raw);
  for (const id of ['steps', 'size', 'lr', 'seed']) document.getElementById(id)?.removeAttribute('invalid');
  if (!r.success) {
    for (const i of r.error.issues) document.getElementById(String(i.path[0]))?.setAttribute('invalid', '');
    setStatus(`Check the settings: ${r.error.issues.map((i) => `${i.path.join('.')} ${i.message.toLowerCase()}`).join('; ')}`);
    return null;
  }
  return r.data;
}

function setStatus(text: string): void {
  const el = document.getElementById('status');
  if (el) el.textContent = text;
}

function card(c: Cell, index: number): HTMLElement {
  const running = state?.status === 'running';
  const media = c.png
    ? h('img', { src: `data:image/png;base64,${c.png}`, alt: c.label, title: 'Click to enlarge', class: 'unit-image' })
    : h('div', { class: 'placeholder' }, running ? h('vscode-progress-ring') : 'no image');
  media.addEventListener('click', () => c.png && enlarge(c));
  const importance = c.importancePng
    ? h('img', { src: `data:image/png;base64,${c.importancePng}`, alt: `importance of ${c.label}`, title: 'Importance map: where the parameterization put its weight', class: 'importance-image' })
    : null;
  const act = c.activation !== null ? h('span', { class: 'activation', title: 'Objective value on the final image' }, `act ${formatNumber(c.activation)}`) : null;
  const meta = h('div', { class: 'meta' },
    h('span', { class: 'label', title: c.spec }, c.label),
    h('span', { class: 'row' }, c.tag ? h('vscode-badge', { variant: 'counter' }, c.tag) : null, act, running && c.steps ? h('span', { class: 'dim' }, `step ${c.steps}`) : null),
  );
  const examples = c.examples?.length
    ? h('div', { class: 'examples', title: 'Dataset examples: the images of the example folder that activate this unit most, with its map over them' },
      ...c.examples.map((e) => {
        const img = h('img', { src: `data:image/png;base64,${e.png}`, alt: e.image, title: `${e.image} · activation ${formatNumber(e.activation)}` });
        img.addEventListener('click', () => enlarge({ ...c, png: e.png, label: e.image, activation: e.activation, tag: undefined }));
        return h('figure', { class: 'example' }, img, h('figcaption', {}, formatNumber(e.activation)));
      }))
    : null;
  const el = h('div', { class: 'card', 'data-index': String(index), 'data-spec': c.spec }, media, importance, meta, examples);
  if (!state?.compare && !running && c.png) {
    const cmp = h('a', { href: '#', class: 'compare-link', title: `Run this unit with every parameterization side by side (${(state?.params ?? []).map((p) => p.title).join(', ')})` }, 'Compare parameterizations');
    cmp.addEventListener('click', (e) => { e.preventDefault(); const st = readSettings(); if (st) vscode.postMessage({ type: 'compare', index, settings: st }); });
    meta.append(cmp);
  }
  return el;
}

function formatNumber(x: number): string {
  return Math.abs(x) >= 100 || (Math.abs(x) < 0.01 && x !== 0) ? x.toExponential(2) : x.toFixed(3);
}

function enlarge(c: Cell): void {
  const overlay = h('div', { class: 'overlay', tabindex: '0', title: 'Click or press Escape to close' },
    h('figure', {},
      h('img', { src: `data:image/png;base64,${c.png}`, alt: c.label }),
      h('figcaption', {}, `${c.tag ? `${c.tag} · ` : ''}${c.label}${c.activation !== null ? ` · activation ${formatNumber(c.activation)}` : ''}`)));
  const close = () => overlay.remove();
  overlay.addEventListener('click', close);
  overlay.addEventListener('keydown', (e) => { if (e.key === 'Escape') close(); });
  document.body.append(overlay);
  overlay.focus();
}

function render(): void {
  app.replaceChildren();
  if (!state) {
    app.append(h('p', { class: 'empty' }, 'Right-click a layer or a channel in the Neuron Lens Models view and choose Visualize.'));
    return;
  }
  const s = state.settings;
  const running = state.status === 'running';
  const what = state.compare
    ? `${state.cells[0]?.label ?? state.units[0]} · ${(state.params ?? []).map((p) => p.title).join(' vs ') || 'every parameterization'}`
    : `${state.units.length} unit${state.units.length === 1 ? '' : 's'}`;
  const header = h('header', {},
    h('div', { class: 'title' }, h('h1', {}, state.modelName), h('span', { class: 'dim' }, what)),
    h('div', { id: 'status', class: `status ${state.status}`, role: 'status' }, running ? progress.text || 'Starting…' : state.message ?? ''),
  );
  const run = h('vscode-button', { id: 'run', disabled: running }, running ? 'Running…' : 'Run');
  run.addEventListener('click', () => { const st = readSettings(); if (st) vscode.postMessage({ type: 'run', settings: st }); });
  const cancel = h('vscode-button', { id: 'cancel', secondary: true, disabled: !running }, 'Cancel');
  cancel.addEventListener('click', () => vscode.postMessage({ type: 'cancel' }));
  const hasImages = state.cells.some((c) => c.png) && !running;
  const saveGrid = h('vscode-button', { id: 'save-grid', secondary: true, disabled: !hasImages }, 'Save Grid…');
  saveGrid.addEventListener('click', () => vscode.postMessage({ type: 'saveGrid' }));
  const savePngs = h('vscode-button', { id: 'save-pngs', secondary: true, disabled: !hasImages }, 'Save PNGs…');
  savePngs.addEventListener('click', () => vscode.postMessage({ type: 'savePngs' }));
  const toolbar = h('div', { class: 'toolbar' },
    state.compare ? null : select('param', 'Parameterization', s.param, paramOptions(s.param)),
    field('steps', 'Steps', String(s.steps)),
    field('size', 'Size', s.size ? String(s.size) : '', 'narrow'),
    field('lr', 'Learning rate', String(s.lr)),
    field('seed', 'Seed', String(s.seed)),
    select('transforms', 'Transforms', s.transforms, [...new Set([s.transforms, 'standard', 'none'])]),
    h('div', { class: 'buttons' }, run, cancel, saveGrid, savePngs),
  );
  if (state.compare) toolbar.prepend(h('input', { type: 'hidden', id: 'param', value: s.param }));
  const bar = h('vscode-progress-bar', { id: 'progress', class: running ? '' : 'hidden', 'aria-label': 'Optimization progress' });
  (bar as unknown as { value: number; max: number }).max = 1;
  (bar as unknown as { value: number }).value = progress.fraction;
  const grid = h('div', { id: 'grid', class: `grid ${state.compare ? 'compare' : ''} ${running ? 'running' : ''}`, 'data-status': state.status });
  state.cells.forEach((c, i) => grid.append(card(c, i)));
  const ex = state.examples ? h('div', { id: 'examples-status', class: `examples-status ${state.examples.status}` }, state.examples.message) : null;
  app.append(header, toolbar, bar, ...(ex ? [ex] : []), grid);
}

window.addEventListener('message', (e: MessageEvent) => {
  const r = ToWebview.safeParse(e.data);
  if (!r.success) return;
  const m = r.data;
  if (m.type === 'state') {
    if (m.state.status !== 'running') progress = { fraction: 0, text: '' };
    state = m.state;
    vscode.setState(state);
    render();
    return;
  }
  if (!state) return;
  progress = { fraction: m.fraction, text: m.text };
  for (const p of m.previews ?? []) if (state.cells[p.index]) state.cells[p.index] = { ...state.cells[p.index], png: p.png };
  const bar = document.getElementById('progress') as unknown as { value: number } | null;
  if (bar) bar.value = m.fraction;
  setStatus(m.text);
  if (m.previews?.length) {
    for (const p of m.previews) {
      const old = document.querySelector(`.card[data-index="${p.index}"]`);
      const c = state.cells[p.index];
      if (old && c) old.replaceWith(card(c, p.index));
    }
    vscode.setState(state);
  }
});

render();
vscode.postMessage({ type: 'ready' });
