// The neuronLens.* settings.
import * as vscode from 'vscode';
import { BACKENDS, type BackendSetting, type VisualizeSettings } from '../engine/protocol';

export function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration('neuronLens');
}

export function backendSetting(): BackendSetting {
  const b = config().get<string>('backend', 'auto');
  return (BACKENDS as readonly string[]).includes(b) ? (b as BackendSetting) : 'auto';
}

export function defaultSettings(): VisualizeSettings {
  const c = config();
  const size = c.get<number>('size', 0);
  return {
    param: c.get<string>('param', 'fourier') === 'pixel' ? 'pixel' : 'fourier',
    steps: c.get<number>('steps', 256),
    ...(size > 0 ? { size } : {}),
    lr: c.get<number>('lr', 0.05),
    seed: c.get<number>('seed', 0),
    transforms: c.get<string>('transforms', 'standard'),
    batch: c.get<number>('batch', 8),
  };
}

export function previewEvery(): number {
  return config().get<number>('previewEvery', 8);
}

export function layerChannels(): number {
  return config().get<number>('layerChannels', 8);
}
