import { strict as assert } from 'assert';
import { checkSidecar } from './sidecar';

describe('neuron-lens.json values', () => {
  const F = '/m/neuron-lens.json';
  const err = (j: unknown) => { try { checkSidecar(j, F); } catch (e) { return (e as Error).message; } return 'accepted'; };

  it('keeps valid fields and ignores unknown ones', () => {
    assert.deepEqual(checkSidecar({ inputRange: [-1, 1], labels: ['a'], logitsLayer: 'fc', note: 'x' }, F), { inputRange: [-1, 1], labels: ['a'], logitsLayer: 'fc' });
    assert.deepEqual(checkSidecar({ mean: [0.5, 0.4], std: [0.2, -0.3] }, F), { mean: [0.5, 0.4], std: [0.2, -0.3] });
  });

  it('names the file and the field of every bad value', () => {
    assert.equal(err({ mean: [0.5], std: [0] }), `${F}: "std" must be non-zero numbers that the mean can be divided by (channel 0 is 0), got [0]`);
    assert.equal(err({ mean: [1e308], std: [1e-308] }), `${F}: "std" must be non-zero numbers that the mean can be divided by (channel 0 is 1e-308), got [1e-308]`);
    assert.equal(err({ mean: [null], std: [0.2] }), `${F}: "mean" must be a list of finite numbers, one per input channel, got [null]`);
    assert.equal(err({ mean: [0.5, 0.5], std: [0.2] }), `${F}: "std" must be a list of 2 finite number(s), like "mean", got [0.2]`);
    assert.equal(err({ mean: [0.5] }), `${F}: "mean" and "std" go together (one value per input channel each)`);
    assert.equal(err({ inputRange: [1, 1] }), `${F}: "inputRange" must be [lo, hi], two different finite numbers, got [1,1]`);
    assert.equal(err({ inputRange: [-1e308, 1e308] }), `${F}: "inputRange" must be [lo, hi], two different finite numbers, got [-1e+308,1e+308]`);
    assert.equal(err({ labels: [1, 2] }), `${F}: "labels" must be a list of strings (class names), got [1,2]`);
    assert.equal(err({ logitsLayer: 5 }), `${F}: "logitsLayer" must be a layer name, got 5`);
    assert.equal(err([1]), `${F}: expected a JSON object like {"inputRange": [-1, 1]}, got [1]`);
    assert.equal(err(null), `${F}: expected a JSON object like {"inputRange": [-1, 1]}, got null`);
  });
});
