import * as assert from 'assert';
import { getParam, paramInfos, paramNames, registerParam, unregisterParam } from '.';
import { createPixelParam } from './pixel';

describe('render/param/registry', () => {
  it('registers, lists, refuses duplicates and bad names, and unregisters', () => {
    const def = { name: 'test-registry', title: 'T', description: 'd', importance: true, create: createPixelParam };
    registerParam(def);
    try {
      assert.strictEqual(getParam('test-registry'), def);
      assert.deepStrictEqual(paramInfos().find((i) => i.name === 'test-registry'), { name: 'test-registry', title: 'T', description: 'd', importance: true });
      assert.throws(() => registerParam(def), /"test-registry" is registered twice/);
      assert.throws(() => registerParam({ ...def, name: 'Bad Name' }), /bad name "Bad Name"/);
    } finally {
      unregisterParam('test-registry');
    }
    assert.ok(!paramNames().includes('test-registry'));
    assert.throws(() => unregisterParam('test-registry'), /"test-registry" is not registered/);
    assert.deepStrictEqual(paramNames().slice(0, 2), ['pixel', 'fourier']);
  });
});
