#!/usr/bin/python3
"""Makes src/core/render/param/maco-spectrum.json: the fixed Fourier magnitude of the `maco` parameterization.

MACO (Fel et al., NeurIPS 2023) fixes the magnitude of the image spectrum to an average natural-image
spectrum and optimizes only the phase. Xplique downloads an ImageNet spectrum computed in the decorrelated
colour space; this script computes one from the photographs in the test fixtures' images/ (12 photos; NASA,
SpaceX and US Navy public domain, scikit-image CC0, scikit-learn and Open Images CC BY 2.0: see that
folder's README). Exactly:

1. Each photo is read as RGB in [0, 1] (an alpha channel is dropped), centre-cropped to a square and
   resized to 256x256 (PIL Lanczos), about the scale a 224-input network sees.
2. Colours are decorrelated as the parameterization re-correlates them: rgb = t @ M with M the
   parameterization's matrix (Lucid's color_correlation_svd_sqrt / its largest column norm, transposed;
   src/core/render/param/color.ts), so t = rgb @ inv(M).
3. From each photo, CROPS random 64x64 crops (numpy default_rng(SEED), positions uniform) and their
   left-right mirrors; per crop and channel the mean is removed and a 2-D Hann window applied (so the
   crop's borders do not add a spurious cross along the axes).
4. |rfft2| per crop and channel (numpy, [64, 33] half plane), averaged over all crops of all photos:
   magnitude [3, 64, 33]. The DC bin is set to 0 (the mean is not texture; MACO standardizes the image).
5. Scaled so that the mean over all bins is 1, written with 4 significant digits.

The file also records the slope of log(radially averaged magnitude) against log(frequency) per channel,
fitted over 2/64..0.5 cycles/pixel: natural images fall off like 1/f (slope near -1); the script fails if a
slope is outside [-1.6, -0.6]. At run time maco.ts resamples the magnitude to any (h, w) in frequency
coordinates (cycles per pixel), interpolating the 1/f-whitened magnitude f*|X|.

Run: /usr/bin/python3 scripts/maco_spectrum.py  (needs numpy and PIL; deterministic).
"""
import glob
import json
import os
import sys

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fixtures_dir():
    # As src/core/testing/fixtures.ts: $NEURON_LENS_FIXTURES, ../shared/fixtures, /work/shared/fixtures.
    for c in (os.environ.get('NEURON_LENS_FIXTURES'), os.path.join(ROOT, '..', 'shared', 'fixtures'), '/work/shared/fixtures'):
        if c and os.path.isfile(os.path.join(c, 'README.md')):
            return os.path.normpath(c)
    sys.exit('maco_spectrum.py: test fixtures not found (set NEURON_LENS_FIXTURES)')


OUT = os.path.join(ROOT, 'src', 'core', 'render', 'param', 'maco-spectrum.json')
RESIZE = 256
SIZE = 64
CROPS = 32
SEED = 0

# The parameterization's colour matrix (color.ts): rgb = t @ M.
SVD_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.0, -0.05], [0.27, -0.09, 0.03]])
M = (SVD_SQRT / np.linalg.norm(SVD_SQRT, axis=0).max()).T


def load(path):
    img = Image.open(path).convert('RGB')
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)).resize((RESIZE, RESIZE), Image.LANCZOS)
    return np.asarray(img, dtype=np.float64) / 255.0


def main():
    images = os.path.join(fixtures_dir(), 'images')
    files = sorted(glob.glob(os.path.join(images, '*')))
    files = [f for f in files if f.lower().endswith(('.png', '.jpg', '.jpeg'))]
    if not files:
        sys.exit(f'maco_spectrum.py: no images in {images}')
    rng = np.random.default_rng(SEED)
    inv = np.linalg.inv(M)
    window = np.outer(np.hanning(SIZE), np.hanning(SIZE))
    acc = np.zeros((3, SIZE, SIZE // 2 + 1))
    n = 0
    for f in files:
        t = load(f) @ inv  # [256, 256, 3], decorrelated
        for _ in range(CROPS):
            y, x = rng.integers(0, RESIZE - SIZE + 1, size=2)
            crop = t[y:y + SIZE, x:x + SIZE]
            for c in (crop, crop[:, ::-1]):
                c = np.moveaxis(c - c.mean(axis=(0, 1)), -1, 0) * window
                acc += np.abs(np.fft.rfft2(c))
                n += 1
    mag = acc / n
    mag[:, 0, 0] = 0
    mag /= mag.mean()

    fy = np.fft.fftfreq(SIZE)[:, None]
    fx = np.fft.rfftfreq(SIZE)[None, :]
    f = np.sqrt(fy ** 2 + fx ** 2)
    rings = np.arange(2, SIZE // 2 + 1)
    slopes = []
    for ch in range(3):
        r = [mag[ch][np.abs(f * SIZE - k) < 0.5].mean() for k in rings]
        slopes.append(float(np.polyfit(np.log(rings / SIZE), np.log(r), 1)[0]))
    print(f'{len(files)} photos, {n} crops; slope of log magnitude vs log f per channel: ' + ', '.join(f'{s:.3f}' for s in slopes))
    if not all(-1.6 <= s <= -0.6 for s in slopes):
        sys.exit(f'maco_spectrum.py: the spectrum does not fall off like 1/f (slopes {slopes})')

    data = {
        'description': 'Average Fourier magnitude of natural photos in the decorrelated colour space of render/param/color.ts, '
                       'for the maco parameterization (Fel et al. 2023). Made by scripts/maco_spectrum.py; see its header.',
        'images': [os.path.basename(p) for p in files],
        'method': f'centre square crop, resize to {RESIZE} (Lanczos), t = rgb @ inv(M), {CROPS} random {SIZE}x{SIZE} crops per photo '
                  f'(numpy default_rng({SEED})) and their mirrors, mean removed, Hann window, |rfft2| averaged; DC = 0; mean 1',
        'crops': n,
        'size': SIZE,
        'layout': f'magnitude[channel][row][column]: [3, {SIZE}, {SIZE // 2 + 1}], numpy rfft2 half plane (rows fftfreq({SIZE}), columns rfftfreq({SIZE}))',
        'slopes': [round(s, 3) for s in slopes],
        'magnitude': [[[float(f'{v:.4g}') for v in row] for row in ch] for ch in mag],
    }
    with open(OUT, 'w') as fh:
        json.dump(data, fh, separators=(',', ':'))
        fh.write('\n')
    print(f'wrote {OUT} ({os.path.getsize(OUT)} bytes)')


if __name__ == '__main__':
    main()
