import * as assert from 'assert';
import { EngineMessage, parseParams, parseResult, Request } from './protocol';
import { BACKEND_SETTINGS } from '../core/backend/names';
import { VISUALIZE_DEFAULTS } from '../core/jobs/options';

describe('engine protocol', () => {
  const settings = { param: 'pixel', steps: 10, lr: 0.05, seed: 0, transforms: 'standard', batch: 2 };

  it('accepts a well-formed visualize request', () => {
    const p = parseParams('visualize', { model: { path: '/m/model.json', inputRange: [-1, 1] }, units: ['logit:3'], settings, previewEvery: 4 });
    assert.deepStrictEqual(p.model.inputRange, [-1, 1]);
    assert.strictEqual(p.settings.param, 'pixel');
  });

  it('names the bad field of invalid params', () => {
    assert.throws(() => parseParams('visualize', { model: { path: '/m' }, units: [], settings, previewEvery: 0 }), /invalid params for visualize: units: Array must contain at least 1 element/);
    assert.throws(() => parseParams('visualize', { model: { path: '/m' }, units: ['logit:1'], settings: { ...settings, param: '' }, previewEvery: 0 }), /settings\.param: String must contain at least 1/);
    assert.throws(() => parseParams('visualize', { model: { path: '/m' }, units: ['logit:1'], settings: { ...settings, batch: 999 }, previewEvery: 0 }), /settings\.batch: Number must be less than or equal to 256/);
    assert.throws(() => parseParams('visualize', { model: { path: '/m' }, units: ['logit:1'], settings: { ...settings, steps: 1.5 }, previewEvery: 0 }), /settings\.steps: Expected integer/);
    assert.throws(() => parseParams('init', { backend: 'cuda' }), /invalid params for init: backend/);
    assert.throws(() => parseParams('cancel', {}), /jobId: Required/);
  });

  it('takes the parameterization as a name (the engine checks it against its registry) and fills defaults from the option table', () => {
    const p = parseParams('visualize', { model: { path: '/m' }, units: ['logit:1'], settings: { param: 'wavelet' }, previewEvery: 0 });
    assert.strictEqual(p.settings.param, 'wavelet');
    const { param: _p, ...defaults } = VISUALIZE_DEFAULTS;
    assert.deepStrictEqual({ ...p.settings, param: undefined }, { ...defaults, param: undefined });
    assert.strictEqual(p.settings.steps, 512);
    assert.strictEqual(p.settings.size, undefined);
  });

  it('attack settings take their limits from the option table', () => {
    const a = { model: { path: '/m' }, images: ['/i.png'], targets: ['1'] };
    assert.strictEqual(parseParams('attack', { ...a, settings: { method: 'pgd', epsilon: 0.03, steps: 5 } }).settings.method, 'pgd');
    assert.throws(() => parseParams('attack', { ...a, settings: { method: 'pgd', epsilon: 2, steps: 5 } }), /settings\.epsilon: Number must be less than or equal to 1/);
    assert.throws(() => parseParams('attack', { ...a, settings: { method: 'deepfool', epsilon: 0.1, steps: 5 } }), /settings\.method/);
  });

  it('backend names come from core/backend', () => {
    for (const b of BACKEND_SETTINGS) assert.strictEqual(parseParams('init', { backend: b }).backend, b);
  });

  it('rejects unknown methods and malformed envelopes', () => {
    assert.ok(Request.safeParse({ kind: 'request', id: 1, method: 'loadModel', params: {} }).success);
    assert.ok(!Request.safeParse({ kind: 'request', id: 1, method: 'rm -rf', params: {} }).success);
    assert.ok(!Request.safeParse({ kind: 'request', id: 'x', method: 'init', params: {} }).success);
  });

  it('validates engine messages and results', () => {
    assert.ok(EngineMessage.safeParse({ kind: 'response', id: 2, ok: false, error: { message: 'boom' } }).success);
    assert.ok(!EngineMessage.safeParse({ kind: 'response', id: 2, ok: false }).success);
    assert.ok(EngineMessage.safeParse({ kind: 'progress', id: 2, step: 1, steps: 4, chunk: 0, chunks: 1, unitIndexes: [0], msPerStep: 3, etaMs: 9, previews: ['iVBOR'] }).success);
    assert.ok(!EngineMessage.safeParse({ kind: 'progress', id: 2, step: 1 }).success);
    assert.ok(!EngineMessage.safeParse({ kind: 'log', level: 'debug', message: 'x' }).success);
    assert.throws(() => parseResult('visualize', { units: [{ spec: 'logit:1' }], msPerStep: 1, cancelled: false, backend: 'wasm' }), /invalid result from the engine for visualize: units\.0\.label/);
  });
});
