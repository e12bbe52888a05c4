import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createParam } from '.';

describe('render/param options', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('rejects bad options with clear errors', () => {
    assert.throws(() => createParam('fourier', { batch: 1, height: 8, width: 8, channels: 1, seed: 0, decorrelate: true }), /decorrelation needs 3 channels, got channels=1/);
    assert.throws(() => createParam('pixel', { batch: 0, height: 8, width: 8, channels: 3, seed: 0 }), /batch must be a positive integer, got 0/);
    assert.throws(() => createParam('fourier', { batch: 1, height: 8, width: 8, channels: 3, seed: 0, decay: -1 }), /decay must be/);
    assert.throws(() => createParam('wavelet' as never, { batch: 1, height: 8, width: 8, channels: 3, seed: 0 }), /unknown parameterization "wavelet" \(expected pixel, fourier/);
  });
});
