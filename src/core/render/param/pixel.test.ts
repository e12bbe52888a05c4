import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { describeParamContract } from './testing_utils';

describe('render/param/pixel', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  describeParamContract('pixel');
});
