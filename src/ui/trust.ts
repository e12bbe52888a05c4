// What Neuron Lens does in a workspace the user has not trusted (package.json declares
// capabilities.untrustedWorkspaces "limited" with UNTRUSTED_DESCRIPTION): it lists the model files and the
// model paths in code, but loads nothing but the example models bundled with the extension until the
// workspace is trusted. Loading runs no code from a model, but the parsers (JSON, protobuf, HDF5 in wasm)
// would still read files nobody vouched for, and a crafted file can exhaust memory. No vscode import: the
// extension passes `vscode.workspace.isTrusted` in and re-renders on onDidGrantWorkspaceTrust.
import * as path from 'path';

export const UNTRUSTED_DESCRIPTION = 'In an untrusted workspace Neuron Lens lists the model files and the model paths in code, but loads and runs only the example models bundled with it until you trust the workspace.';

export interface TrustState {
  /** vscode.workspace.isTrusted */
  trusted: boolean;
  /** The extension's own example models (its `models` folder): loaded even when the workspace is not trusted. */
  bundledDir: string;
}

/** Why Neuron Lens may not load this model file now, or undefined when it may. */
export function loadRefusal(file: string, t: TrustState): string | undefined {
  if (t.trusted) return undefined;
  const rel = path.relative(path.resolve(t.bundledDir), path.resolve(file));
  if (rel && !rel.startsWith('..') && !path.isAbsolute(rel)) return undefined;
  return `Neuron Lens loads ${path.basename(file)} only in a trusted workspace: trust this workspace (Workspaces: Manage Workspace Trust) to load and visualize it`;
}
