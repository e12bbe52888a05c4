// The backend names, listed once: the engine's choice order, the `--backend` / `neuronLens.backend` values
// and the protocol's enum all come from here. No imports: the extension and the webview bundle it too.

/** In the order `auto` tries them. */
export const BACKEND_NAMES = ['tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** What a user may ask for: a backend, or `auto`. */
export const BACKEND_SETTINGS = ['auto', ...BACKEND_NAMES] as const;
export type BackendSetting = (typeof BACKEND_SETTINGS)[number];

export function isBackendSetting(s: string): s is BackendSetting {
  return (BACKEND_SETTINGS as readonly string[]).includes(s);
}

/** `wasm + oneDNN, 2 threads`: the backend in a few words (CLI, status bar). */
export function backendSummary(b: { name: string; native?: string; threads?: number }): string {
  const native = b.native ? ` + ${b.native.split(' ')[0]}` : '';
  const threads = b.threads ? `, ${b.threads} thread${b.threads === 1 ? '' : 's'}` : '';
  return `${b.name}${native}${threads}`;
}
