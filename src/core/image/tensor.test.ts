import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { tensorToImages } from './tensor';

describe('tensorToImages', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('splits a [B,H,W,C] batch into HWC images', async () => {
    const t = tf.tidy(() => tf.div(tf.reshape(tf.range(0, 2 * 3 * 4 * 3), [2, 3, 4, 3]), 100)) as tf.Tensor4D;
    const imgs = await tensorToImages(t);
    assert.strictEqual(imgs.length, 2);
    for (const [b, img] of imgs.entries()) {
      assert.deepStrictEqual([img.width, img.height, img.channels], [4, 3, 3]);
      // element (b, y, x, c) of the tensor is (((b * 3 + y) * 4 + x) * 3 + c) / 100
      assert.ok(Math.abs(img.data[(2 * 4 + 1) * 3 + 2] - (((b * 3 + 2) * 4 + 1) * 3 + 2) / 100) < 1e-6);
    }
    imgs[0].data[0] = 9; // images own their data
    assert.strictEqual(imgs[1].data[0], Math.fround(0.36));
    assert.ok(Math.abs((await t.data())[0]) < 1e-9);
    t.dispose();
  });

  it('rejects tensors that are not float32 rank 4', async () => {
    const i = tf.zeros([1, 2, 2, 1], 'int32') as tf.Tensor4D;
    await assert.rejects(tensorToImages(i), /expected a float32 tensor, got int32/);
    const r3 = tf.zeros([2, 2, 1]) as unknown as tf.Tensor4D;
    await assert.rejects(tensorToImages(r3), /rank-4 \[B,H,W,C\] tensor, got shape \[2,2,1\]/);
    tf.dispose([i, r3]);
  });
});
