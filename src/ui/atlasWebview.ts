// The atlas viewer (core/jobs/atlasHtml.ts, a static index.html) made fit for a webview: a strict CSP whose
// nonce its inline script and style carry, and a <base> at the atlas folder's webview URI so its relative
// image paths resolve. No vscode import: tested as a plain function.

/** `html` (an atlas index.html) with the CSP, the nonce and the base folder (a URI ending in `/`). */
export function atlasWebviewHtml(html: string, base: string, cspSource: string, nonce: string): string {
  const csp = [
    "default-src 'none'",
    `img-src ${cspSource}`,
    `style-src 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  if (!/<head>/.test(html) || !/id="atlas-data"/.test(html)) throw new Error('not an atlas index.html (no <head> or no atlas data): make it with neuron-lens atlas');
  const attr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
  return html
    .replace('<head>', `<head>\n<meta http-equiv="Content-Security-Policy" content="${attr(csp)}">\n<base href="${attr(base)}">`)
    .replace(/<(script|style)(?=[ >])/g, `<$1 nonce="${nonce}"`);
}
