#!/usr/bin/python3
"""Train Neuron Lens's embedded default models on Fashion-MNIST and export them as TF.js layers models.

Install (Debian 12):   apt-get install python3-torch dataset-fashion-mnist
Run (from the repo root, CPU only):
    /usr/bin/python3 scripts/train_models.py                   # both models into models/
    /usr/bin/python3 scripts/train_models.py --only cnn        # or --only vit
Optional speed-up: Debian's torch calls the reference BLAS for matmuls (the ViT is ~20x slower with it).
With `apt-get install libopenblas0-pthread` the BLAS alternative switches to OpenBLAS; or, without
changing the system, preload it:
    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 /usr/bin/python3 scripts/train_models.py
Everything is seeded (torch.manual_seed, a seeded generator for the epoch order and augmentation), so a rerun
with the same torch, BLAS and thread count gives the same weights; another BLAS or thread count rounds
differently and gives a slightly different (equally good) model.

Outputs, per model folder (models/fashion_cnn, models/fashion_vit):
  model.json        TF.js layers model: Keras 2 functional config + one weights manifest group
  weights.bin       float32 little-endian weights, in manifest order, Keras layouts
                    (Conv2D kernel [kh,kw,in,out], Dense kernel [in,out])
  neuron-lens.json  {"inputRange": [0, 1], "labels": [...]}
  reference.json    a few real test images (784 floats in [0,1], row-major 28x28), their true labels,
                    PyTorch's logits for them, and the measured test accuracy
Before writing reference.json the script reads model.json + weights.bin back and runs an independent float64
numpy interpreter of the Keras config on the reference images; it must reproduce PyTorch's logits.

Input: 28x28x1 (NHWC in the exported model), pixel values in [0,1] fed as is.

CNN (standard Keras classes only):
  input [null,28,28,1] -> conv1 (Conv2D 3x3, 32, same) -> conv1_bn -> conv1_relu -> pool1 (MaxPooling2D 2)
  -> conv2 (3x3, 64, same) -> conv2_bn -> conv2_relu -> pool2 -> conv3 (3x3, 128, same) -> conv3_bn
  -> conv3_relu -> gap (GlobalAveragePooling2D) -> dropout -> logits (Dense 10, linear) -> probs (softmax)
  BatchNormalization epsilon 1e-3 (Keras default; PyTorch uses the same value here).

ViT: patch 4 (49 patches), dim 64, 4 blocks, 4 heads (16 wide), MLP 128, pre-norm, CLS token.
Custom classes (the project's Keras-config interpreter implements them exactly as follows):
  NeuronLens>ClassToken          name cls_token; weight cls_token/cls [1,1,64];
                                 output concat([cls broadcast to the batch, x], axis 1): [B,49,64] -> [B,50,64]
  NeuronLens>PositionEmbedding   name pos_embed; weight pos_embed/pos [1,50,64]; output x + pos
  NeuronLens>MultiHeadSelfAttention
                                 config {"num_heads": 4}; weights qkv_kernel [64,192], qkv_bias [192],
                                 out_kernel [64,64], out_bias [64].
                                 qkv = x @ qkv_kernel + qkv_bias; q = qkv[..., 0:64], k = qkv[..., 64:128],
                                 v = qkv[..., 128:192]; head h uses the contiguous 16-wide chunk
                                 [h*16, (h+1)*16) of each of q, k, v;
                                 o_h = softmax(q_h k_h^T / sqrt(16), over keys) v_h;
                                 output = concat(o_0..o_3, axis -1) @ out_kernel + out_bias
  NeuronLens>ClassTokenPool      name cls_pool; output x[:, 0, :]
Layer graph:
  input [null,28,28,1] -> patch_embed (Conv2D kernel 4, strides 4, valid, 64) -> patch_tokens (Reshape [49,64])
  -> cls_token -> pos_embed
  per block l = 0..3 (x = pos_embed for l = 0, else block_{l-1}):
    block_{l}_ln1 (LayerNormalization axis -1, epsilon 1e-6) -> block_{l}_attn
    -> block_{l}_res1 = Add(x, block_{l}_attn)
    -> block_{l}_ln2 -> block_{l}_mlp1 (Dense 128, activation "gelu" = exact erf GELU) -> block_{l}_mlp2 (Dense 64)
    -> block_{l} = Add(block_{l}_res1, block_{l}_mlp2)          (block output [B,50,64])
  -> final_ln (LayerNormalization, epsilon 1e-6) -> cls_pool -> logits (Dense 10) -> probs (Activation softmax)
Weight names are "<layer name>/<weight>": kernel, bias, gamma, beta, moving_mean, moving_variance, cls, pos,
qkv_kernel, qkv_bias, out_kernel, out_bias.
"""

import argparse
import gzip
import json
import math
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA_DIR = '/usr/share/datasets/fashion-mnist'
LABELS = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
          'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']
SEED = 20240607
BN_EPS = 1e-3
LN_EPS = 1e-6


# ----------------------------------------------------------------------------------------------------------------
# Data

def read_idx(path):
    with gzip.open(path, 'rb') as f:
        data = f.read()
    magic, = struct.unpack('>I', data[:4])
    ndim = magic & 0xFF
    if magic >> 8 != 0x08:
        raise ValueError(f'{path}: not an unsigned-byte idx file (magic {magic:#x})')
    dims = struct.unpack('>' + 'I' * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f'{path}: expected {dims} values, found {arr.size}')
    return arr.reshape(dims)


def load_split(prefix):
    images = read_idx(os.path.join(DATA_DIR, f'{prefix}-images-idx3-ubyte.gz'))
    labels = read_idx(os.path.join(DATA_DIR, f'{prefix}-labels-idx1-ubyte.gz'))
    x = torch.from_numpy(images.astype(np.float32) / np.float32(255.0)).unsqueeze(1)  # [N,1,28,28] in [0,1]
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


# ----------------------------------------------------------------------------------------------------------------
# PyTorch models (layer for layer the exported Keras graphs)

class FashionCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv1_bn = nn.BatchNorm2d(32, eps=BN_EPS)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv2_bn = nn.BatchNorm2d(64, eps=BN_EPS)
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1)
        self.conv3_bn = nn.BatchNorm2d(128, eps=BN_EPS)
        self.dropout = nn.Dropout(0.2)
        self.logits = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1_bn(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.conv2_bn(self.conv2(x))), 2)
        x = F.relu(self.conv3_bn(self.conv3(x)))
        x = x.mean(dim=(2, 3))
        return self.logits(self.dropout(x))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp1 = nn.Linear(dim, mlp)
        self.mlp2 = nn.Linear(mlp, dim)

    def forward(self, x):
        b, n, d = x.shape
        hd = d // self.heads
        # qkv columns: [q | k | v], each split into contiguous per-head chunks of width hd
        qkv = self.qkv(self.ln1(x)).reshape(b, n, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(hd), dim=-1)
        o = (att @ v).transpose(1, 2).reshape(b, n, d)
        x = x + self.out(o)
        return x + self.mlp2(F.gelu(self.mlp1(self.ln2(x))))  # F.gelu default = exact erf GELU


class FashionViT(nn.Module):
    def __init__(self, dim=64, depth=4, heads=4, mlp=128, patch=4):
        super().__init__()
        self.dim = dim
        self.patch_embed = nn.Conv2d(1, dim, patch, stride=patch)
        n = (28 // patch) ** 2
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, n + 1, dim))
        nn.init.trunc_normal_(self.cls, std=0.02)
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList([Block(dim, heads, mlp) for _ in range(depth)])
        self.final_ln = nn.LayerNorm(dim, eps=LN_EPS)
        self.logits = nn.Linear(dim, 10)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # [B,49,dim], token = row*7 + col (NHWC reshape)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        for blk in self.blocks:
            x = blk(x)
        return self.logits(self.final_ln(x)[:, 0])


# ----------------------------------------------------------------------------------------------------------------
# Training

def augment(x, gen):
    """Random horizontal flip (half the batch), drawn from the seeded generator."""
    flip = torch.rand(x.shape[0], generator=gen) < 0.5
    x = x.clone()
    x[flip] = x[flip].flip(-1)
    return x


@torch.no_grad()
def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], batch):
        correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / x.shape[0]


def train(model, data, epochs, lr, weight_decay, batch, warmup_frac, tag):
    xtr, ytr, xte, yte = data
    gen = torch.Generator().manual_seed(SEED + 1)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim >= 2 and name not in ('cls', 'pos') else no_decay).append(p)
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': weight_decay},
                             {'params': no_decay, 'weight_decay': 0.0}], lr=lr)
    steps_per_epoch = xtr.shape[0] // batch
    total = epochs * steps_per_epoch
    warmup = max(1, int(warmup_frac * total))

    def lr_at(step):  # linear warm-up, then cosine to zero
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(xtr.shape[0], generator=gen)
        running = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * batch:(s + 1) * batch]
            xb, yb = augment(xtr[idx], gen), ytr[idx]
            loss = F.cross_entropy(model(xb), yb, label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item()
        acc = evaluate(model, xte, yte)
        print(f'[{tag}] epoch {epoch + 1}/{epochs} loss {running / steps_per_epoch:.4f} '
              f'test acc {acc:.4f} ({time.time() - t0:.0f} s)', flush=True)
    return acc, time.time() - t0


# ----------------------------------------------------------------------------------------------------------------
# Keras config + weights export

GLOROT = {'class_name': 'GlorotUniform', 'config': {'seed': None}}
ZEROS = {'class_name': 'Zeros', 'config': {}}
ONES = {'class_name': 'Ones', 'config': {}}


class KerasGraph:
    def __init__(self, name):
        self.name = name
        self.layers = []
        self.weights = []  # (name, float32 array in Keras layout)
        self.names = set()

    def add(self, class_name, name, config, inbound, weights=()):
        if name in self.names:
            raise ValueError(f'duplicate layer name {name}')
        self.names.add(name)
        cfg = {'name': name, 'trainable': True, 'dtype': 'float32'}
        cfg.update(config)
        self.layers.append({
            'class_name': class_name,
            'name': name,
            'config': cfg,
            'inbound_nodes': [] if not inbound else [[[src, 0, 0, {}] for src in inbound]],
        })
        for wname, arr in weights:
            self.weights.append((f'{name}/{wname}', np.ascontiguousarray(arr, dtype=np.float32)))
        return name

    def input(self, name, shape):
        self.names.add(name)
        self.layers.append({'class_name': 'InputLayer', 'name': name, 'inbound_nodes': [],
                            'config': {'batch_input_shape': [None] + list(shape), 'dtype': 'float32',
                                       'sparse': False, 'ragged': False, 'name': name}})
        self.input_name = name
        return name

    def write(self, out_dir, output):
        os.makedirs(out_dir, exist_ok=True)
        topology = {
            'class_name': 'Functional',
            'config': {'name': self.name, 'trainable': True, 'layers': self.layers,
                       'input_layers': [[self.input_name, 0, 0]], 'output_layers': [[output, 0, 0]]},
            'keras_version': '2.15.0',
            'backend': 'tensorflow',
        }
        manifest = [{'paths': ['weights.bin'],
                     'weights': [{'name': n, 'shape': list(a.shape), 'dtype': 'float32'} for n, a in self.weights]}]
        model = {'format': 'layers-model', 'generatedBy': 'neuron-lens scripts/train_models.py',
                 'convertedBy': None, 'modelTopology': topology, 'weightsManifest': manifest}
        with open(os.path.join(out_dir, 'model.json'), 'w') as f:
            json.dump(model, f, indent=1)
            f.write('\n')
        with open(os.path.join(out_dir, 'weights.bin'), 'wb') as f:
            for _, a in self.weights:
                f.write(a.astype('<f4').tobytes())


def t2n(t):
    return t.detach().cpu().numpy().astype(np.float32)


def conv_cfg(filters, k, s, padding):
    return {'filters': filters, 'kernel_size': [k, k], 'strides': [s, s], 'padding': padding,
            'data_format': 'channels_last', 'dilation_rate': [1, 1], 'groups': 1, 'activation': 'linear',
            'use_bias': True, 'kernel_initializer': GLOROT, 'bias_initializer': ZEROS,
            'kernel_regularizer': None, 'bias_regularizer': None, 'activity_regularizer': None,
            'kernel_constraint': None, 'bias_constraint': None}


def conv_weights(conv):
    return [('kernel', t2n(conv.weight).transpose(2, 3, 1, 0)), ('bias', t2n(conv.bias))]


def dense_cfg(units, activation='linear'):
    return {'units': units, 'activation': activation, 'use_bias': True, 'kernel_initializer': GLOROT,
            'bias_initializer': ZEROS, 'kernel_regularizer': None, 'bias_regularizer': None,
            'activity_regularizer': None, 'kernel_constraint': None, 'bias_constraint': None}


def dense_weights(lin):
    return [('kernel', t2n(lin.weight).T), ('bias', t2n(lin.bias))]


def bn_cfg():
    return {'axis': -1, 'momentum': 0.99, 'epsilon': BN_EPS, 'center': True, 'scale': True,
            'beta_initializer': ZEROS, 'gamma_initializer': ONES, 'moving_mean_initializer': ZEROS,
            'moving_variance_initializer': ONES, 'beta_regularizer': None, 'gamma_regularizer': None,
            'beta_constraint': None, 'gamma_constraint': None}


def bn_weights(bn):
    return [('gamma', t2n(bn.weight)), ('beta', t2n(bn.bias)),
            ('moving_mean', t2n(bn.running_mean)), ('moving_variance', t2n(bn.running_var))]


def ln_cfg():
    return {'axis': -1, 'epsilon': LN_EPS, 'center': True, 'scale': True, 'beta_initializer': ZEROS,
            'gamma_initializer': ONES, 'beta_regularizer': None, 'gamma_regularizer': None,
            'beta_constraint': None, 'gamma_constraint': None}


def ln_weights(ln):
    return [('gamma', t2n(ln.weight)), ('beta', t2n(ln.bias))]


def export_cnn(m):
    g = KerasGraph('fashion_cnn')
    x = g.input('input', [28, 28, 1])
    for i, (conv, bn) in enumerate([(m.conv1, m.conv1_bn), (m.conv2, m.conv2_bn), (m.conv3, m.conv3_bn)], 1):
        x = g.add('Conv2D', f'conv{i}', conv_cfg(conv.out_channels, 3, 1, 'same'), [x], conv_weights(conv))
        x = g.add('BatchNormalization', f'conv{i}_bn', bn_cfg(), [x], bn_weights(bn))
        x = g.add('Activation', f'conv{i}_relu', {'activation': 'relu'}, [x])
        if i < 3:
            x = g.add('MaxPooling2D', f'pool{i}', {'pool_size': [2, 2], 'padding': 'valid', 'strides': [2, 2],
                                                   'data_format': 'channels_last'}, [x])
    x = g.add('GlobalAveragePooling2D', 'gap', {'data_format': 'channels_last', 'keepdims': False}, [x])
    x = g.add('Dropout', 'dropout', {'rate': m.dropout.p, 'noise_shape': None, 'seed': None}, [x])
    x = g.add('Dense', 'logits', dense_cfg(10), [x], dense_weights(m.logits))
    g.add('Activation', 'probs', {'activation': 'softmax'}, [x])
    return g, 'probs'


def export_vit(m):
    g = KerasGraph('fashion_vit')
    d = m.dim
    x = g.input('input', [28, 28, 1])
    pe = m.patch_embed
    x = g.add('Conv2D', 'patch_embed', conv_cfg(d, pe.kernel_size[0], pe.stride[0], 'valid'), [x], conv_weights(pe))
    x = g.add('Reshape', 'patch_tokens', {'target_shape': [m.pos.shape[1] - 1, d]}, [x])
    x = g.add('NeuronLens>ClassToken', 'cls_token', {}, [x], [('cls', t2n(m.cls))])
    x = g.add('NeuronLens>PositionEmbedding', 'pos_embed', {}, [x], [('pos', t2n(m.pos))])
    for l, blk in enumerate(m.blocks):
        h = g.add('LayerNormalization', f'block_{l}_ln1', ln_cfg(), [x], ln_weights(blk.ln1))
        h = g.add('NeuronLens>MultiHeadSelfAttention', f'block_{l}_attn', {'num_heads': blk.heads}, [h],
                  [('qkv_kernel', t2n(blk.qkv.weight).T), ('qkv_bias', t2n(blk.qkv.bias)),
                   ('out_kernel', t2n(blk.out.weight).T), ('out_bias', t2n(blk.out.bias))])
        r = g.add('Add', f'block_{l}_res1', {}, [x, h])
        h = g.add('LayerNormalization', f'block_{l}_ln2', ln_cfg(), [r], ln_weights(blk.ln2))
        h = g.add('Dense', f'block_{l}_mlp1', dense_cfg(blk.mlp1.out_features, 'gelu'), [h], dense_weights(blk.mlp1))
        h = g.add('Dense', f'block_{l}_mlp2', dense_cfg(d), [h], dense_weights(blk.mlp2))
        x = g.add('Add', f'block_{l}', {}, [r, h])
    x = g.add('LayerNormalization', 'final_ln', ln_cfg(), [x], ln_weights(m.final_ln))
    x = g.add('NeuronLens>ClassTokenPool', 'cls_pool', {}, [x])
    x = g.add('Dense', 'logits', dense_cfg(10), [x], dense_weights(m.logits))
    g.add('Activation', 'probs', {'activation': 'softmax'}, [x])
    return g, 'probs'


# ----------------------------------------------------------------------------------------------------------------
# Independent float64 numpy interpreter of the exported files

def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _activation(name, x):
    if name == 'linear':
        return x
    if name == 'relu':
        return np.maximum(x, 0.0)
    if name == 'gelu':
        return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))
    if name == 'softmax':
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise ValueError(f'numpy reference: unsupported activation {name!r}')


def _same_pads(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _conv2d(x, w, b, strides, padding):
    kh, kw, _, cout = w.shape
    sh, sw = strides
    if padding == 'same':
        (pt, pb), (pl, pr) = _same_pads(x.shape[1], kh, sh), _same_pads(x.shape[2], kw, sw)
        x = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    elif padding != 'valid':
        raise ValueError(f'numpy reference: unsupported padding {padding!r}')
    n, h, wd, cin = x.shape
    oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
    out = np.zeros((n, oh, ow, cout))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw, :]
            out += patch @ w[i, j]
    return out + b


def _layer_norm(x, gamma, beta, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def numpy_forward(model_dir, images_nhwc):
    """Run model.json + weights.bin in float64; returns {layer name: output}."""
    with open(os.path.join(model_dir, 'model.json')) as f:
        model = json.load(f)
    raw = open(os.path.join(model_dir, 'weights.bin'), 'rb').read()
    weights, off = {}, 0
    for group in model['weightsManifest']:
        for spec in group['weights']:
            count = int(np.prod(spec['shape']))
            weights[spec['name']] = np.frombuffer(raw, '<f4', count, off).reshape(spec['shape']).astype(np.float64)
            off += 4 * count
    if off != len(raw):
        raise ValueError(f'{model_dir}/weights.bin: {len(raw)} bytes, manifest describes {off}')
    cfg = model['modelTopology']['config']
    outs = {}
    for layer in cfg['layers']:
        cls, name, c = layer['class_name'], layer['name'], layer['config']
        ins = [outs[src[0]] for node in layer['inbound_nodes'] for src in node]
        W = lambda k: weights[f'{name}/{k}']  # noqa: E731
        if cls == 'InputLayer':
            y = images_nhwc.astype(np.float64)
        elif cls == 'Conv2D':
            y = _activation(c['activation'], _conv2d(ins[0], W('kernel'), W('bias'), c['strides'], c['padding']))
        elif cls == 'BatchNormalization':
            y = (ins[0] - W('moving_mean')) / np.sqrt(W('moving_variance') + c['epsilon']) * W('gamma') + W('beta')
        elif cls == 'Activation':
            y = _activation(c['activation'], ins[0])
        elif cls == 'MaxPooling2D':
            (ph, pw), (sh, sw) = c['pool_size'], c['strides']
            x = ins[0]
            oh, ow = (x.shape[1] - ph) // sh + 1, (x.shape[2] - pw) // sw + 1
            y = np.full((x.shape[0], oh, ow, x.shape[3]), -np.inf)
            for i in range(ph):
                for j in range(pw):
                    y = np.maximum(y, x[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw, :])
        elif cls == 'GlobalAveragePooling2D':
            y = ins[0].mean(axis=(1, 2))
        elif cls == 'Dropout':
            y = ins[0]
        elif cls == 'Dense':
            y = _activation(c['activation'], ins[0] @ W('kernel') + W('bias'))
        elif cls == 'Reshape':
            y = ins[0].reshape([ins[0].shape[0]] + list(c['target_shape']))
        elif cls == 'Add':
            y = sum(ins)
        elif cls == 'LayerNormalization':
            y = _layer_norm(ins[0], W('gamma'), W('beta'), c['epsilon'])
        elif cls == 'NeuronLens>ClassToken':
            x = ins[0]
            y = np.concatenate([np.broadcast_to(W('cls'), (x.shape[0], 1, x.shape[2])), x], axis=1)
        elif cls == 'NeuronLens>PositionEmbedding':
            y = ins[0] + W('pos')
        elif cls == 'NeuronLens>MultiHeadSelfAttention':
            x = ins[0]
            d, nh = x.shape[-1], c['num_heads']
            hd = d // nh
            qkv = x @ W('qkv_kernel') + W('qkv_bias')
            heads = []
            for h in range(nh):
                q = qkv[..., h * hd:(h + 1) * hd]
                k = qkv[..., d + h * hd:d + (h + 1) * hd]
                v = qkv[..., 2 * d + h * hd:2 * d + (h + 1) * hd]
                heads.append(_activation('softmax', q @ k.transpose(0, 2, 1) / math.sqrt(hd)) @ v)
            y = np.concatenate(heads, axis=-1) @ W('out_kernel') + W('out_bias')
        elif cls == 'NeuronLens>ClassTokenPool':
            y = ins[0][:, 0, :]
        else:
            raise ValueError(f'numpy reference: unsupported layer class {cls!r} ({name})')
        outs[name] = y
    return outs


# ----------------------------------------------------------------------------------------------------------------

def reference_indices(y, count):
    """First test images of the first `count` distinct classes, in test-set order."""
    seen, idx = set(), []
    for i, label in enumerate(y.tolist()):
        if label not in seen:
            seen.add(label)
            idx.append(i)
            if len(idx) == count:
                break
    return idx


def finish(model, graph, output, out_dir, xte, yte, acc, seconds, extra):
    graph.write(out_dir, output)
    with open(os.path.join(out_dir, 'neuron-lens.json'), 'w') as f:
        json.dump({'inputRange': [0, 1], 'labels': LABELS}, f, indent=1)
        f.write('\n')
    idx = reference_indices(yte, 4)
    x = xte[idx]
    model.eval()
    with torch.no_grad():
        logits = model(x).numpy().astype(np.float64)
    ref = numpy_forward(out_dir, x.permute(0, 2, 3, 1).numpy())['logits']
    rel = np.abs(ref - logits).max() / np.abs(logits).max()
    print(f'[{graph.name}] numpy float64 interpreter vs PyTorch logits: max abs diff '
          f'{np.abs(ref - logits).max():.3g}, relative {rel:.3g}', flush=True)
    if rel > 1e-5:
        raise SystemExit(f'{out_dir}: exported model does not reproduce PyTorch (relative error {rel:.3g})')
    reference = {
        'description': 'Real Fashion-MNIST test images (784 floats in [0,1], row-major 28x28, fed as is as '
                       '[1,28,28,1]) with the PyTorch logits (pre-softmax, output of layer "logits").',
        'testIndices': idx,
        'labels': yte[idx].tolist(),
        'images': [[float(v) for v in img.reshape(-1)] for img in x.numpy()],
        'logits': [[float(v) for v in row] for row in logits],
        'numpyFloat64MaxRelativeError': float(rel),
        'testAccuracy': acc,
        'testSetSize': int(xte.shape[0]),
        'trainSeconds': round(seconds, 1),
        'torchVersion': torch.__version__,
    }
    reference.update(extra)
    with open(os.path.join(out_dir, 'reference.json'), 'w') as f:
        json.dump(reference, f)
        f.write('\n')
    print(f'[{graph.name}] wrote {out_dir}: test accuracy {acc:.4f}, '
          f'weights.bin {os.path.getsize(os.path.join(out_dir, "weights.bin"))} bytes', flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--only', choices=['cnn', 'vit'])
    ap.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'models'))
    ap.add_argument('--cnn-epochs', type=int, default=3)
    ap.add_argument('--vit-epochs', type=int, default=1)
    ap.add_argument('--threads', type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    xtr, ytr = load_split('train')
    xte, yte = load_split('t10k')
    data = (xtr, ytr, xte, yte)
    if args.only in (None, 'cnn'):
        torch.manual_seed(SEED)
        cnn = FashionCNN()
        acc, secs = train(cnn, data, args.cnn_epochs, lr=3e-3, weight_decay=1e-4, batch=128, warmup_frac=0.05,
                          tag='cnn')
        g, out = export_cnn(cnn)
        finish(cnn, g, out, os.path.join(args.out, 'fashion_cnn'), xte, yte, acc, secs,
               {'epochs': args.cnn_epochs})
    if args.only in (None, 'vit'):
        torch.manual_seed(SEED)
        vit = FashionViT()
        acc, secs = train(vit, data, args.vit_epochs, lr=2e-3, weight_decay=0.05, batch=128, warmup_frac=0.1,
                          tag='vit')
        g, out = export_vit(vit)
        finish(vit, g, out, os.path.join(args.out, 'fashion_vit'), xte, yte, acc, secs,
               {'epochs': args.vit_epochs})


if __name__ == '__main__':
    main()
