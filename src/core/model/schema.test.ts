import { strict as assert } from 'assert';
import { checkGraphNodes, checkLayerConfig, checkStructure, KERAS_TOPOLOGY, TFJS_MODEL_JSON } from './schema';

describe('JSON structures checked before the importers walk them', () => {
  const F = '/m/model.json';
  const err = (schema: any, v: unknown) => { try { checkStructure(schema, v, F); } catch (e) { return (e as Error).message; } return 'accepted'; };
  const manifest = (m: unknown) => ({ modelTopology: {}, weightsManifest: m });
  const group = { paths: ['w.bin'], weights: [{ name: 'k', shape: [3, 3], dtype: 'float32' }] };

  it('model.json: names the file, the field and what it must be', () => {
    assert.equal(err(TFJS_MODEL_JSON, manifest([group])), 'accepted');
    assert.equal(err(TFJS_MODEL_JSON, null), `${F}: the content must be object, got null`);
    assert.equal(err(TFJS_MODEL_JSON, { modelTopology: null, weightsManifest: [] }), `${F}: "modelTopology" must be an object (the model topology), got null`);
    assert.equal(err(TFJS_MODEL_JSON, { modelTopology: {} }), `${F}: "weightsManifest" is missing`);
    assert.equal(err(TFJS_MODEL_JSON, manifest([null])), `${F}: "weightsManifest[0]" must be object, got null`);
    assert.equal(err(TFJS_MODEL_JSON, manifest([{ ...group, paths: null }])), `${F}: "weightsManifest[0].paths" must be array, got null`);
    assert.equal(err(TFJS_MODEL_JSON, manifest([{ ...group, weights: [{ name: 'k', shape: 'abc', dtype: 'float32' }] }])), `${F}: "weightsManifest[0].weights[0].shape" must be a list of non-negative integers, got "abc"`);
    assert.equal(err(TFJS_MODEL_JSON, manifest([{ ...group, weights: [{ name: 'k', shape: [1.5], dtype: 'float32' }] }])), `${F}: "weightsManifest[0].weights[0].shape[0]" must be integer, got 1.5`);
  });

  it('Keras configs: the layer list and the size fields of each layer', () => {
    assert.equal(err(KERAS_TOPOLOGY, { class_name: 'Functional', config: { layers: {} } }), `${F}: "config" must be a list of layers or an object with "layers", got {"layers":{}}`);
    assert.equal(err(KERAS_TOPOLOGY, { class_name: 'Functional', config: { layers: [null] } }), `${F}: "config" must be a list of layers or an object with "layers", got {"layers":[null]}`);
    assert.throws(() => checkLayerConfig({ filters: 0 }, 'layer "c" (Conv2D)'), { message: 'layer "c" (Conv2D): "filters" must be a positive integer or a list of them, got 0' });
    assert.throws(() => checkLayerConfig({ strides: [0, 0] }, 'layer "c" (Conv2D)'), /"strides" must be a positive integer or a list of them, got \[0,0\]/);
    assert.throws(() => checkLayerConfig({ rate: 'half' }, 'layer "d" (Dropout)'), { message: 'layer "d" (Dropout): "rate" must be a number in [0, 1), got "half"' });
    checkLayerConfig({ kernel_size: [3, 3], strides: 1, filters: 8, epsilon: 0.001 }, 'ok');
  });

  it('graph model nodes: inputs that exist, no cycle, integer attributes', () => {
    const x = { name: 'x', op: 'Placeholder' };
    const c = (input: string[], attr = {}) => ({ name: 'c', op: 'Conv2D', input, attr });
    checkGraphNodes([x, c(['x', '^x'], { strides: { list: { i: ['1', '1'] } } })], F);
    assert.throws(() => checkGraphNodes([x, c(['x', 'nowhere:0'])], F), { message: `${F}: node "c" (Conv2D) takes input "nowhere:0", which is no node of the graph` });
    assert.throws(() => checkGraphNodes([x, c(['c'])], F), { message: `${F}: the graph has a cycle through node "c"` });
    assert.throws(() => checkGraphNodes([x, c(['x'], { strides: { list: { i: ['a'] } } })], F), /attribute "strides" must hold integers/);
    assert.throws(() => checkGraphNodes([x, x], F), /two nodes are named "x"/);
  });
});
