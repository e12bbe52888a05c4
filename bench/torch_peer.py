#!/usr/bin/python3
"""The PyTorch peer of `npm run bench`: the same activation-maximization step on the same architectures, CPU.

Per step: Fourier image (learned half-plane spectrum scaled by 1/f, torch.fft.irfft2, Lucid colour
decorrelation, sigmoid) -> one random affine bilinear resample per image (pad 12 / jitter 8 / scale / rotate /
jitter 4 composed, as the product's transforms, via affine_grid + grid_sample) -> [-1, 1] preprocess ->
forward to the logits -> loss = -sum_b logit[b, b] -> backward to the spectrum -> Adam (lr 0.05). Random
weights, eval mode, parameters frozen (no weight gradients). MobileNet v1 and the pre-activation ResNet50
(ResNet50V2) are written here; InceptionV3 and ViT-B/16 come from torchvision.

Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision). Prints one JSON line per case:
  /usr/bin/python3 bench/torch_peer.py --models mobilenet_v1 --batches 1,8 --steps 10 [--threads 2]
With --export-onnx FILE it writes the (one) model of --models as ONNX instead (random weights and batch-norm
statistics, eval mode; input `input` [batch, 3, size, size], output `logits`): the bench's onnx rows load it.
Debian's torch links the reference BLAS; run it with OpenBLAS (see bench/run.ts: LD_PRELOAD of the
openblas-pthread libblas.so.3, OPENBLAS_NUM_THREADS=1): the `blas` field says which library is mapped.
"""
import argparse
import json
import math
import os
import random
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def blas_in_use():
    libs = set()
    try:
        with open('/proc/self/maps') as f:
            for line in f:
                p = line.split()[-1]
                if 'blas' in p or 'lapack' in p:
                    libs.add(p)
    except OSError:
        pass
    return sorted(libs)


# ---- architectures -------------------------------------------------------------------------------------------

def conv_bn(cin, cout, k, s, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class MobileNetV1(nn.Module):
    def __init__(self):
        super().__init__()
        layers = [conv_bn(3, 32, 3, 2)]
        c = 32
        for f, s in [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]:
            layers += [conv_bn(c, c, 3, s, groups=c), conv_bn(c, f, 1, 1)]
            c = f
        self.features = nn.Sequential(*layers)
        self.fc = nn.Conv2d(1024, 1000, 1)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.fc(x).flatten(1)


class PreActBottleneck(nn.Module):
    def __init__(self, cin, filters, stride, conv_shortcut):
        super().__init__()
        self.preact = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=False))
        self.shortcut = nn.Conv2d(cin, 4 * filters, 1, stride) if conv_shortcut else None
        self.stride = stride
        self.body = nn.Sequential(
            nn.Conv2d(cin, filters, 1, bias=False), nn.BatchNorm2d(filters), nn.ReLU(inplace=True),
            nn.Conv2d(filters, filters, 3, stride, 1, bias=False), nn.BatchNorm2d(filters), nn.ReLU(inplace=True),
            nn.Conv2d(filters, 4 * filters, 1))

    def forward(self, x):
        p = self.preact(x)
        if self.shortcut is not None:
            s = self.shortcut(p)
        elif self.stride > 1:
            s = F.max_pool2d(x, 1, self.stride)
        else:
            s = x
        return s + self.body(p)


class ResNet50V2(nn.Module):
    """keras.applications.ResNet50V2's layout: pre-activation bottlenecks, stride on the last block of a stack."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3), nn.MaxPool2d(3, 2, 1))
        blocks, c = [], 64
        for filters, n, stride1 in [(64, 3, 2), (128, 4, 2), (256, 6, 2), (512, 3, 1)]:
            blocks.append(PreActBottleneck(c, filters, 1, True))
            c = 4 * filters
            for _ in range(2, n):
                blocks.append(PreActBottleneck(c, filters, 1, False))
            blocks.append(PreActBottleneck(c, filters, stride1, False))
        self.blocks = nn.Sequential(*blocks)
        self.post = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        self.fc = nn.Linear(c, 1000)

    def forward(self, x):
        x = self.post(self.blocks(self.stem(x)))
        return self.fc(x.mean((2, 3)))


def build(name):
    import torchvision.models as tvm
    if name == 'mobilenet_v1':
        return MobileNetV1(), 224
    if name == 'resnet50v2':
        return ResNet50V2(), 224
    if name == 'inceptionv3':
        return tvm.inception_v3(weights=None, aux_logits=False, init_weights=False), 299
    if name in ('vit_b16', 'vit_b16_hf'):  # vit_b16_hf: the same network, ours loaded from a Hugging Face checkpoint
        return tvm.vit_b_16(weights=None), 224
    raise SystemExit(f'torch_peer: unknown model {name!r}')


# ---- the AM step ---------------------------------------------------------------------------------------------

COLOR = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOR = COLOR / COLOR.norm(dim=0).max()
SCALES = [1 + (i - 5) / 50 for i in range(11)]
ANGLES = list(range(-10, 11)) + [0] * 5


def fourier_param(b, h, w, seed):
    g = torch.Generator().manual_seed(seed)
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    freqs = torch.sqrt(fx * fx + fy * fy)
    scale = math.sqrt(h * w) / torch.clamp(freqs, min=1.0 / max(h, w)) / 4
    spec = (torch.randn(2, b, 3, h, w // 2 + 1, generator=g) * 0.01).requires_grad_(True)

    def image():
        z = torch.complex(spec[0], spec[1]) * scale
        t = torch.fft.irfft2(z, s=(h, w))  # [b, 3, h, w]
        t = torch.einsum('bchw,cd->bdhw', t, COLOR.T)  # rgb = t @ M per pixel, M = (C / max col norm)^T
        return torch.sigmoid(t)
    return spec, image


def affine_thetas(b, size, rng):
    """Output->source maps of pad 12, jitter 8, scale, rotate, jitter 4, in grid_sample's normalized coords."""
    thetas = []
    for _ in range(b):
        s = size + 24 - 8
        f = rng.choice(SCALES)
        s2 = math.floor(f * s)
        a = math.radians(rng.choice(ANGLES))
        crop = (s2 - 4) / size  # fraction of the source the output covers, about 1
        dy, dx = (rng.randint(0, 8) - 4) / size * 2, (rng.randint(0, 8) - 4) / size * 2
        c, sn = math.cos(a) * crop, math.sin(a) * crop
        thetas.append([[c, -sn, dx], [sn, c, dy]])
    return torch.tensor(thetas)


def run_case(name, batch, steps, seed=0):
    torch.manual_seed(seed)
    model, size = build(name)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    spec, image = fourier_param(batch, size, size, seed)
    opt = torch.optim.Adam([spec], lr=0.05)
    rng = random.Random(seed)
    idx = torch.arange(batch)
    wall, cpu = [], []
    for step in range(steps + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        img = image()
        theta = affine_thetas(batch, size, rng)
        grid = F.affine_grid(theta, (batch, 3, size, size), align_corners=False)
        x = F.grid_sample(img - 0.5, grid, mode='bilinear', padding_mode='zeros', align_corners=False) + 0.5
        logits = model(x * 2 - 1)
        loss = -logits[idx, idx % logits.shape[1]].sum()
        loss.backward()
        opt.step()
        if step > 0:  # the first step is warm-up
            wall.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
    ms = statistics.median(wall)
    return {
        'model': name, 'backend': 'torch-cpu', 'batch': batch, 'steps': steps,
        'msPerStep': ms, 'msPerImage': ms / batch, 'cpuMsPerStep': statistics.median(cpu),
        'stepMs': [round(t, 1) for t in wall],
        'peakRssMB': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        'torch': torch.__version__, 'threads': torch.get_num_threads(), 'blas': blas_in_use(),
    }


def export_onnx(name, file, seed=0):
    torch.manual_seed(seed)
    model, size = build(name)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):  # statistics away from the identity, as the bench's Keras builder has
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.8, 1.2)
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 3, size, size), file, opset_version=13, input_names=['input'],
                      output_names=['logits'], dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}})
    print(json.dumps({'model': name, 'onnx': file, 'size': size}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--models', default='mobilenet_v1,resnet50v2,inceptionv3,vit_b16')
    ap.add_argument('--batches', default='1,8')
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--export-onnx', metavar='FILE')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.export_onnx:
        return export_onnx(a.models, a.export_onnx)
    for name in a.models.split(','):
        for b in (int(v) for v in a.batches.split(',')):
            print(json.dumps(run_case(name, b, a.steps)), flush=True)


if __name__ == '__main__':
    sys.exit(main())
