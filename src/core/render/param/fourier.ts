// `fourier` (Lucid `fft_image`): the image is sigmoid(decorrelate(t)) with `t = irfft2(spectrum * scale) / 4`,
// the spectrum a learned [2,B,C,H,FW] variable (real, imaginary), FW = floor(W/2)+1 (the exact real-DFT
// half plane, as in Lucent; Lucid keeps one more column for odd W and crops), and
// `scale = sqrt(H*W) / max(f, 1/max(H,W))^decay`, f the frequency magnitude in cycles per pixel.
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../rng';
import { channelAffine } from '../../backend/affine';
import { colorDecorrelationMatrix, toValidImage } from './color';
import { createIrfft2dBases, inverseRealDft2d, rfft2dFreqs } from './dft';
import { checkParamOptions, seededVariable } from './options';
import { registerParam, type ImageParam, type ParamOptions } from './registry';

export function createFourierParam(opts: ParamOptions): ImageParam {
  const o = checkParamOptions('fourier', opts);
  const { batch: b, height: h, width: w, channels: c } = o;
  const rng = new Rng(o.seed);
  const decorrelation = o.decorrelate ? tf.keep(tf.tensor2d(colorDecorrelationMatrix())) : null;
  const bases = createIrfft2dBases(h, w);
  const fw = bases.fw;
  const freqs = rfft2dFreqs(h, w);
  const scaleData = new Float32Array(h * fw);
  const floor = 1 / Math.max(h, w);
  for (let i = 0; i < freqs.length; i++) scaleData[i] = Math.sqrt(h * w) / Math.pow(Math.max(freqs[i], floor), o.decay);
  // Lucid's final /4 folded into the constant scale.
  for (let i = 0; i < scaleData.length; i++) scaleData[i] /= 4;
  // Applied as a per-"channel" affine over the flattened spectrum, one op each way (a broadcast multiply is slow on wasm).
  const scale = tf.keep(tf.tensor1d(scaleData));
  const noOffset = tf.keep(tf.zeros([h * fw]));
  const spectrum = seededVariable(rng.normals(2 * b * c * h * fw, o.sd), [2, b * c, h, fw]);

  return {
    kind: 'fourier',
    variables: [spectrum],
    image: () =>
      tf.tidy(() => {
        const scaled = channelAffine(tf.reshape(spectrum, [2 * b * c, h * fw]), scale, noOffset, 'linear');
        const [re, im] = tf.unstack(tf.reshape(scaled, [2, b * c, h, fw])) as tf.Tensor3D[];
        const x = inverseRealDft2d(re, im, bases); // [B*C, h, w]
        const t = tf.transpose(tf.reshape(x, [b, c, h, w]), [0, 2, 3, 1]) as tf.Tensor4D;
        return toValidImage(t, decorrelation);
      }),
    dispose() {
      spectrum.dispose();
      bases.dispose();
      scale.dispose();
      noOffset.dispose();
      decorrelation?.dispose();
    },
  };
}

registerParam({
  name: 'fourier',
  title: 'Fourier',
  description: 'a learned spectrum scaled by 1/f, colour-decorrelated, through a sigmoid (Lucid fft_image): natural-looking images',
  create: createFourierParam,
});
