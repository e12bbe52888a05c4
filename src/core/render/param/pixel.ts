// `pixel`: the image is sigmoid(decorrelate(t)) with `t` the variable itself, [B,H,W,C], initialised
// N(0, sd^2) (Lucid `pixel_image`).
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../rng';
import { colorDecorrelationMatrix, toValidImage } from './color';
import { checkParamOptions, seededVariable } from './options';
import { registerParam, type ImageParam, type ParamOptions } from './registry';

export function createPixelParam(opts: ParamOptions): ImageParam {
  const o = checkParamOptions('pixel', opts);
  const { batch: b, height: h, width: w, channels: c } = o;
  const rng = new Rng(o.seed);
  const decorrelation = o.decorrelate ? tf.keep(tf.tensor2d(colorDecorrelationMatrix())) : null;
  const v = seededVariable(rng.normals(b * h * w * c, o.sd), [b, h, w, c]);
  return {
    kind: 'pixel',
    variables: [v],
    image: () => tf.tidy(() => toValidImage(v as tf.Tensor4D, decorrelation)),
    dispose() {
      v.dispose();
      decorrelation?.dispose();
    },
  };
}

registerParam({
  name: 'pixel',
  title: 'Pixel',
  description: 'raw pixels (Lucid pixel_image): high-frequency "neural illusions"',
  create: createPixelParam,
});
