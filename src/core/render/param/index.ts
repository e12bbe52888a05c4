// Image parameterizations: each file registers itself in the registry; importing this module registers
// them all, in this order (the order the CLI, the settings and the webview list them).
import './pixel';
import './fourier';
import './maco';

export * from './registry';
export { COLOR_CORRELATION_SVD_SQRT, colorDecorrelationMatrix, toValidImage } from './color';
export { createIrfft2dBases, inverseRealDft2d, rfft2dFreqs, type Irfft2dBases } from './dft';
