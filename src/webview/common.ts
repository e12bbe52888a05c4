// What every Neuron Lens webview starts with: the VS Code API, its state restored (validated) from a
// previous session or the extension's initial JSON, and a small element builder.

export interface VsCodeApi<From> {
  postMessage(m: From): void;
  getState(): unknown;
  setState(s: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi<never>;

/** acquireVsCodeApi may be called once per webview. */
export function vscodeApi<From>(): VsCodeApi<From> {
  return acquireVsCodeApi() as unknown as VsCodeApi<From>;
}

interface StateSchema<S> {
  safeParse(raw: unknown): { success: true; data: S } | { success: false };
}

/** The webview's saved state, else the panel's initial state; null when neither is valid. */
export function initialState<S>(api: VsCodeApi<unknown>, schema: StateSchema<S>): S | null {
  const saved = schema.safeParse(api.getState());
  if (saved.success) return saved.data;
  try {
    const r = schema.safeParse(JSON.parse(document.getElementById('initial-state')?.textContent ?? 'null'));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/** document.createElement with attributes (false/undefined omitted, true as an empty attribute) and children. */
export function h(tag: string, attrs: Record<string, string | boolean | undefined> = {}, ...children: (Node | string | null)[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null) el.append(c);
  return el;
}
