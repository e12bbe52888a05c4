// "Neuron Lens: Open Atlas…": an atlas folder's static viewer (index.html, written by neuron-lens atlas) in a
// webview, with the folder as its only local resource root.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { atlasWebviewHtml } from './atlasWebview';

export const ATLAS_VIEW_TYPE = 'neuronLens.atlas';

/** Opens the atlas in `folder` (asks for one when not given); returns its panel, or undefined when none was picked. */
export async function openAtlas(folder?: vscode.Uri): Promise<vscode.WebviewPanel | undefined> {
  const dir = folder ?? (await vscode.window.showOpenDialog({ canSelectFiles: false, canSelectFolders: true, canSelectMany: false, openLabel: 'Open Atlas' }))?.[0];
  if (!dir) return undefined;
  const index = path.join(dir.fsPath, 'index.html');
  if (!fs.existsSync(index)) {
    void vscode.window.showErrorMessage(`${index} not found: ${dir.fsPath} is not a finished atlas (make one with neuron-lens atlas MODEL --layer L --out DIR, or --merge DIR after shards)`);
    return undefined;
  }
  const panel = vscode.window.createWebviewPanel(ATLAS_VIEW_TYPE, `Atlas: ${path.basename(dir.fsPath)}`, vscode.ViewColumn.Active, {
    enableScripts: true, localResourceRoots: [dir], retainContextWhenHidden: true,
  });
  const nonce = crypto.randomBytes(18).toString('base64').replace(/[^A-Za-z0-9]/g, '');
  const base = `${panel.webview.asWebviewUri(dir).toString().replace(/\/?$/, '/')}`;
  panel.webview.html = atlasWebviewHtml(fs.readFileSync(index, 'utf8'), base, panel.webview.cspSource, nonce);
  return panel;
}
