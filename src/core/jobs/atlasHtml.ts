// The atlas viewer: one self-contained HTML file (inline CSS and script, the index inlined as a JSON data
// block, images by relative path), so it opens from file:// with no server and no network (Chromium blocks
// fetch() of file:// URLs, so index.json is not read at run time) and in the editor's webview.
import type { AtlasIndex } from './atlas';

/** JSON safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const CSS = `
:root { color-scheme: light dark; --bg: #1e1e1e; --fg: #ddd; --muted: #999; --panel: #252526; --accent: #3794ff; --tile: #2d2d2d; }
@media (prefers-color-scheme: light) { :root { --bg: #fff; --fg: #222; --muted: #666; --panel: #f3f3f3; --accent: #0066bf; --tile: #eee; } }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--fg); display: flex; height: 100vh; }
nav { width: 220px; flex: none; overflow-y: auto; background: var(--panel); padding: 12px 0; }
nav h1 { font-size: 14px; margin: 0 12px 4px; }
nav .meta { color: var(--muted); margin: 0 12px 12px; font-size: 11px; word-break: break-all; }
nav a { display: flex; justify-content: space-between; padding: 4px 12px; color: var(--fg); text-decoration: none; }
nav a:hover { background: var(--tile); }
nav a.current { border-left: 3px solid var(--accent); padding-left: 9px; font-weight: 600; }
nav a span { color: var(--muted); }
main { flex: 1; overflow-y: auto; padding: 16px; }
main h2 { margin: 0 0 12px; font-size: 16px; }
main h2.section { margin-top: 16px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(120px, 1fr)); gap: 8px; }
.tile { background: var(--tile); border-radius: 4px; padding: 4px; text-decoration: none; color: var(--fg); display: block; }
.tile:hover { outline: 2px solid var(--accent); }
.tile img { width: 100%; aspect-ratio: 1; display: block; image-rendering: pixelated; }
.tile div { display: flex; justify-content: space-between; font-size: 11px; padding-top: 2px; }
.tile div span:last-child { color: var(--muted); }
.images { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; }
figure img { width: 256px; height: 256px; image-rendering: pixelated; display: block; background: var(--tile); }
figcaption { color: var(--muted); font-size: 12px; padding-top: 4px; }
.examples { display: flex; flex-wrap: wrap; gap: 8px; }
.examples figure img { width: 112px; height: 112px; }
.examples .pair { display: flex; gap: 2px; align-items: flex-end; }
.examples figure img.crop { width: 56px; height: 56px; }
.links { margin-bottom: 12px; }
.links a { color: var(--accent); margin-right: 12px; }
table { border-collapse: collapse; margin-top: 12px; }
td { padding: 2px 12px 2px 0; color: var(--muted); }
td:last-child { color: var(--fg); }
`;

/** The viewer's script: layers down the side, a grid per layer, a page per unit (#layer=NAME, #unit=N). */
const SCRIPT = `
const atlas = JSON.parse(document.getElementById('atlas-data').textContent);
const nav = document.querySelector('nav'), main = document.querySelector('main');
const layers = [];
const byLayer = new Map();
atlas.units.forEach((u, i) => { if (!byLayer.has(u.layer)) { byLayer.set(u.layer, []); layers.push(u.layer); } byLayer.get(u.layer).push(i); });
const el = (tag, attrs, ...kids) => { const e = document.createElement(tag); for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v); for (const c of kids) e.append(c); return e; };
const fmt = (v) => (v === null || v === undefined) ? '' : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2);
const name = (u) => u.channel !== undefined ? 'ch ' + u.channel : u.label;
function show() {
  const h = new URLSearchParams(location.hash.slice(1));
  const unit = h.has('unit') ? atlas.units[Number(h.get('unit'))] : undefined;
  const layer = unit ? unit.layer : h.get('layer') || layers[0];
  nav.replaceChildren(el('h1', {}, atlas.model.name), el('div', { class: 'meta' },
    atlas.units.length + ' units · ' + atlas.settings.params.join(', ') + ' · ' + atlas.settings.steps + ' steps · seed ' + atlas.settings.seed));
  for (const l of layers) nav.append(el('a', { href: '#layer=' + encodeURIComponent(l), class: l === layer ? 'current' : '' }, l, el('span', {}, String(byLayer.get(l).length))));
  if (unit) return showUnit(Number(h.get('unit')));
  main.replaceChildren(el('h2', {}, layer));
  const grid = el('div', { class: 'grid' });
  for (const i of byLayer.get(layer) || []) {
    const u = atlas.units[i];
    grid.append(el('a', { class: 'tile', href: '#unit=' + i, title: u.unit }, el('img', { src: u.png, alt: u.unit, loading: 'lazy' }), el('div', {}, el('span', {}, name(u)), el('span', {}, fmt(u.activation)))));
  }
  main.append(grid);
}
function showUnit(i) {
  const u = atlas.units[i];
  const same = byLayer.get(u.layer), k = same.indexOf(i);
  const links = el('div', { class: 'links' }, el('a', { href: '#layer=' + encodeURIComponent(u.layer) }, '← ' + u.layer));
  if (k > 0) links.append(el('a', { href: '#unit=' + same[k - 1] }, '‹ previous'));
  if (k < same.length - 1) links.append(el('a', { href: '#unit=' + same[k + 1] }, 'next ›'));
  const images = el('div', { class: 'images' });
  for (const p of atlas.settings.params) {
    (u.images[p] || []).forEach((src, c) => images.append(el('figure', {}, el('img', { src, alt: p }),
      el('figcaption', {}, p + (u.images[p].length > 1 ? ' #' + c : '') + ' · activation ' + fmt(u.activations[p][c])))));
  }
  main.replaceChildren(links, el('h2', {}, u.label), images);
  if (u.examples) {
    for (const [title, hits] of [['Dataset examples: strongest', u.examples.top], ['weakest', u.examples.bottom]]) {
      if (!hits || !hits.length) continue;
      const row = el('div', { class: 'examples' });
      for (const x of hits) {
        row.append(el('figure', { title: x.image + ' (heatmap: the unit over the image, its receptive field boxed; then that crop)' },
          el('div', { class: 'pair' }, el('img', { src: x.heatmap, alt: x.image }), el('img', { class: 'crop', src: x.crop, alt: 'crop' })),
          el('figcaption', {}, fmt(x.activation) + ' · ' + x.image.split('/').pop())));
      }
      main.append(el('h2', { class: 'section' }, title), row);
    }
  }
  const t = el('table');
  for (const [a, b] of [['unit', u.unit], ['layer', u.layer], ['activation', fmt(u.activation)], ['model', atlas.model.source], ['input', atlas.model.preprocess]]) t.append(el('tr', {}, el('td', {}, a), el('td', {}, String(b))));
  main.append(t);
}
// Links change the fragment only: under a <base> elsewhere (the editor's webview) a plain #link would
// load the base folder instead.
document.addEventListener('click', (e) => {
  const a = e.target.closest && e.target.closest('a[href^="#"]');
  if (a) { e.preventDefault(); location.hash = a.getAttribute('href'); }
});
addEventListener('hashchange', show);
show();
`;

export function atlasHtml(index: AtlasIndex): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Atlas: ${escapeHtml(index.model.name)}</title>
<style>${CSS}</style>
</head>
<body>
<nav></nav>
<main></main>
<script type="application/json" id="atlas-data">${scriptJson(index)}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
