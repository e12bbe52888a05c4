// The inverse real 2-D DFT as matmuls with precomputed cos/sin bases (TF.js has no gradient for its
// spectral ops), and the frequencies of the real-DFT half plane.
import * as tf from '@tensorflow/tfjs-core';

/**
 * Frequency magnitudes of the real 2-D DFT half plane, row-major [h, floor(w/2)+1], in cycles per
 * pixel: `sqrt(fy^2 + fx^2)` with fy = numpy `fftfreq(h)`, fx = `fftfreq(w)[:w//2+1]` (non-negative).
 */
export function rfft2dFreqs(h: number, w: number): Float64Array {
  const fw = Math.floor(w / 2) + 1;
  const out = new Float64Array(h * fw);
  for (let y = 0; y < h; y++) {
    const fy = (y <= Math.floor((h - 1) / 2) ? y : y - h) / h;
    for (let x = 0; x < fw; x++) out[y * fw + x] = Math.sqrt(fy * fy + (x / w) * (x / w));
  }
  return out;
}

/** Precomputed cos/sin bases of the inverse real 2-D DFT for one (h, w). Keep-ed; free with dispose(). */
export interface Irfft2dBases {
  readonly h: number;
  readonly w: number;
  /** floor(w/2)+1 */
  readonly fw: number;
  /** [fw, w]: c_k cos(2 pi k n / w) / w, c_k = 1 for k = 0 and the Nyquist column, else 2. */
  readonly wCos: tf.Tensor2D;
  /** [fw, w]: c_k sin(2 pi k n / w) / w. */
  readonly wSin: tf.Tensor2D;
  /** [w, fw]: transpose of wCos (for the gradient). */
  readonly wCosT: tf.Tensor2D;
  /** [w, fw]: transpose of wSin. */
  readonly wSinT: tf.Tensor2D;
  /** [h, h]: cos(2 pi m k / h) / h (symmetric). */
  readonly hCos: tf.Tensor2D;
  /** [h, h]: sin(2 pi m k / h) / h (symmetric). */
  readonly hSin: tf.Tensor2D;
  dispose(): void;
}

/** cos and sin of 2 pi a / n with the argument reduced exactly (a mod n) first. */
function cisTable(rows: number, cols: number, n: number, weight: (r: number) => number): [Float32Array, Float32Array] {
  const c = new Float32Array(rows * cols);
  const s = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const wr = weight(r);
    for (let k = 0; k < cols; k++) {
      const a = (2 * Math.PI * ((r * k) % n)) / n;
      c[r * cols + k] = wr * Math.cos(a);
      s[r * cols + k] = wr * Math.sin(a);
    }
  }
  return [c, s];
}

export function createIrfft2dBases(h: number, w: number): Irfft2dBases {
  for (const [name, v] of [['height', h], ['width', w]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`createIrfft2dBases: ${name} must be a positive integer, got ${v}`);
  }
  const fw = Math.floor(w / 2) + 1;
  const nyquist = w % 2 === 0 ? w / 2 : -1;
  const [wc, ws] = cisTable(fw, w, w, (k) => (k === 0 || k === nyquist ? 1 : 2) / w);
  const [hc, hs] = cisTable(h, h, h, () => 1 / h);
  const t = {
    wCos: tf.keep(tf.tensor2d(wc, [fw, w])),
    wSin: tf.keep(tf.tensor2d(ws, [fw, w])),
    wCosT: tf.keep(tf.tidy(() => tf.transpose(tf.tensor2d(wc, [fw, w])))),
    wSinT: tf.keep(tf.tidy(() => tf.transpose(tf.tensor2d(ws, [fw, w])))),
    hCos: tf.keep(tf.tensor2d(hc, [h, h])),
    hSin: tf.keep(tf.tensor2d(hs, [h, h])),
  };
  return {
    h,
    w,
    fw,
    ...t,
    dispose() {
      for (const x of Object.values(t)) x.dispose();
    },
  };
}

/**
 * Inverse real 2-D DFT (numpy `irfft2(X, s=(h, w))`, backward normalisation 1/(h w)) of a batch of
 * half-plane spectra `re + i im`, each [N, h, floor(w/2)+1]; returns [N, h, w]. The imaginary parts of
 * the DC and Nyquist columns do not contribute, as in numpy. Differentiable: forward is six 2-D
 * matmuls with the bases (four along the width, two along the height) and two transposes; the
 * gradient (the adjoint map) is written out with stored transposed bases so that every matmul runs
 * un-transposed (TF.js wasm runs transposed matmuls about 10x slower).
 */
export function inverseRealDft2d(re: tf.Tensor3D, im: tf.Tensor3D, bases: Irfft2dBases): tf.Tensor3D {
  const { h, w, fw } = bases;
  const [n, rh, rfw] = re.shape;
  if (rh !== h || rfw !== fw || im.shape[0] !== n || im.shape[1] !== h || im.shape[2] !== fw) {
    throw new Error(
      `inverseRealDft2d: spectra must be [N, ${h}, ${fw}] for a ${h}x${w} image, got re [${re.shape}] im [${im.shape}]`,
    );
  }
  // [N*h, w] <-> [h, N*w]: move the row axis to the front (height matmuls) and back.
  const toRows = (z: tf.Tensor): tf.Tensor2D => tf.reshape(tf.transpose(tf.reshape(z, [n, h, w]), [1, 0, 2]), [h, n * w]);
  const fromRows = (z: tf.Tensor): tf.Tensor2D => tf.reshape(tf.transpose(tf.reshape(z, [h, n, w]), [1, 0, 2]), [n * h, w]);
  const op = tf.customGrad((reIn: tf.Tensor | tf.GradSaveFunc, imIn: tf.Tensor | tf.GradSaveFunc) => {
    // Width: Z[N,ky,n] = sum_k c_k X[N,ky,k] e^{+2 pi i k n / w} / w (complex).
    const xr = tf.reshape(reIn as tf.Tensor, [n * h, fw]);
    const xi = tf.reshape(imIn as tf.Tensor, [n * h, fw]);
    const zr = tf.sub(tf.matMul(xr, bases.wCos), tf.matMul(xi, bases.wSin));
    const zi = tf.add(tf.matMul(xr, bases.wSin), tf.matMul(xi, bases.wCos));
    // Height: x[N,m,n] = Re sum_ky Z[N,ky,n] e^{+2 pi i ky m / h} / h.
    const x = tf.sub(tf.matMul(bases.hCos, toRows(zr)), tf.matMul(bases.hSin, toRows(zi)));
    return {
      value: tf.reshape(fromRows(x), [n, h, w]) as tf.Tensor3D,
      gradFunc: (dy: tf.Tensor3D) => {
        // Adjoint. hCos and hSin are symmetric, so they are their own transposes.
        const dyRows = toRows(dy);
        const dzr = fromRows(tf.matMul(bases.hCos, dyRows));
        const dzi = fromRows(tf.neg(tf.matMul(bases.hSin, dyRows)));
        const dxr = tf.add(tf.matMul(dzr, bases.wCosT), tf.matMul(dzi, bases.wSinT));
        const dxi = tf.sub(tf.matMul(dzi, bases.wCosT), tf.matMul(dzr, bases.wSinT));
        return [tf.reshape(dxr, [n, h, fw]), tf.reshape(dxi, [n, h, fw])];
      },
    };
  });
  return op(re, im);
}
