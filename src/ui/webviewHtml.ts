// The HTML shell of every Neuron Lens webview: a strict CSP with a nonce, local scripts and styles only,
// and the panel's initial state as inert JSON.
import * as crypto from 'crypto';
import * as vscode from 'vscode';

function nonce(): string {
  return crypto.randomBytes(18).toString('base64').replace(/[^A-Za-z0-9]/g, '');
}

export interface WebviewPage {
  title: string;
  /** Bundle in dist/, e.g. `webview.js`. */
  script: string;
  /** Style sheets in media/. */
  styles: string[];
  state: unknown;
}

export function webviewHtml(webview: vscode.Webview, extensionUri: vscode.Uri, page: WebviewPage): string {
  const n = nonce();
  const script = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', page.script));
  const styles = page.styles.map((s) => `<link rel="stylesheet" href="${webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', s))}" nonce="${n}">`);
  const csp = [
    "default-src 'none'",
    `img-src ${webview.cspSource} data:`,
    `style-src ${webview.cspSource} 'nonce-${n}'`,
    `font-src ${webview.cspSource}`,
    `script-src 'nonce-${n}'`,
  ].join('; ');
  const initial = JSON.stringify(page.state).replace(/</g, '\\u003c');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
${styles.join('\n')}
<title>${page.title}</title>
</head>
<body>
<div id="app"></div>
<script nonce="${n}" id="initial-state" type="application/json">${initial}</script>
<script nonce="${n}" src="${script}"></script>
</body>
</html>`;
}

/** What every panel needs from the extension. */
export interface PanelBaseDeps {
  extensionUri: vscode.Uri;
  log: vscode.OutputChannel;
}

/** A parser of untrusted messages (a zod schema). */
interface MessageSchema<T> {
  safeParse(raw: unknown): { success: true; data: T } | { success: false };
}

/**
 * The plumbing both Neuron Lens panels share: the HTML shell, state kept here and mirrored to the webview
 * (`{type: 'state'}`), every message from the webview validated before `handle` sees it, disposal.
 */
export abstract class WebviewPanelBase<S, To, From> {
  protected state: S;
  protected readonly disposables: vscode.Disposable[] = [];

  protected constructor(readonly panel: vscode.WebviewPanel, private readonly base: PanelBaseDeps, state: S,
    page: Omit<WebviewPage, 'state'>, schema: MessageSchema<From>) {
    this.state = state;
    panel.iconPath = vscode.Uri.joinPath(base.extensionUri, 'media', 'neuron-lens.svg');
    panel.webview.html = webviewHtml(panel.webview, base.extensionUri, { ...page, state });
    panel.onDidDispose(() => this.dispose(), null, this.disposables);
    panel.webview.onDidReceiveMessage((raw) => {
      const r = schema.safeParse(raw);
      if (r.success) this.handle(r.data);
      else base.log.appendLine(`ignored a malformed message from the ${page.title} webview: ${JSON.stringify(raw).slice(0, 200)}`);
    }, null, this.disposables);
  }

  get current(): S {
    return this.state;
  }

  protected post(m: To): void {
    void this.panel.webview.postMessage(m);
  }

  protected setState(patch: Partial<S>): void {
    this.state = { ...this.state, ...patch };
    void this.panel.webview.postMessage({ type: 'state', state: this.state });
  }

  /** A validated message from the webview. */
  protected abstract handle(m: From): void;

  protected dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
