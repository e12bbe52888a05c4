// The neuronLens.* settings. Their defaults and limits come from the jobs' option table
// (core/jobs/options.ts); package.json's static copy is checked against it by a test.
import * as vscode from 'vscode';
import { isBackendSetting, type BackendSetting } from '../core/backend/names';
import { EDITOR_DEFAULTS, VISUALIZE_DEFAULTS, VISUALIZE_OPTIONS } from '../core/jobs/options';
import type { VisualizeSettings } from '../engine/protocol';

export function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration('neuronLens');
}

export function backendSetting(): BackendSetting {
  const b = config().get<string>('backend', 'auto');
  return isBackendSetting(b) ? b : 'auto';
}

/**
 * The visualize settings: the table's defaults, then every option that is also a VS Code setting. The
 * parameterization is checked by the engine against its registry (a clear error names the valid ones).
 */
export function defaultSettings(): VisualizeSettings {
  const c = config();
  const s: Record<string, unknown> = { ...VISUALIZE_DEFAULTS };
  for (const o of VISUALIZE_OPTIONS) {
    if (!('setting' in o && o.setting)) continue;
    const v = c.get<unknown>(o.key);
    // size 0 (the setting's default) means "the model's input size": no size.
    if (v !== undefined && !(o.key === 'size' && v === 0)) s[o.key] = v;
  }
  return s as VisualizeSettings;
}

export function previewEvery(): number {
  return config().get<number>('previewEvery', EDITOR_DEFAULTS.previewEvery);
}

export function layerChannels(): number {
  return config().get<number>('layerChannels', EDITOR_DEFAULTS.layerChannels);
}

export function engineMemoryMB(): number {
  return config().get<number>('engineMemoryMB', EDITOR_DEFAULTS.engineMemoryMB);
}

export function loadTimeoutMs(): number {
  return config().get<number>('loadTimeoutSeconds', EDITOR_DEFAULTS.loadTimeoutSeconds) * 1000;
}

/** The folder of example images (empty: none). */
export function exampleImages(): string {
  return config().get<string>('exampleImages', EDITOR_DEFAULTS.exampleImages).trim();
}
