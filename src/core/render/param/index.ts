// Image parameterizations: each registers itself in the registry; importing this module registers them all.
import { createBuiltinParam } from './builtin';
import { registerParam } from './registry';

export * from './registry';
export { colorDecorrelationMatrix, createIrfft2dBases, inverseRealDft2d, rfft2dFreqs, COLOR_CORRELATION_SVD_SQRT, type Irfft2dBases } from './builtin';

registerParam({
  name: 'pixel',
  title: 'Pixel',
  description: 'raw pixels (Lucid pixel_image): high-frequency "neural illusions"',
  create: (o) => createBuiltinParam('pixel', o),
});

registerParam({
  name: 'fourier',
  title: 'Fourier',
  description: 'a learned spectrum scaled by 1/f, colour-decorrelated, through a sigmoid (Lucid fft_image): natural-looking images',
  create: (o) => createBuiltinParam('fourier', o),
});
