#!/usr/bin/python3
"""Small random ViT and DeiT checkpoints in the Hugging Face `transformers` layout and the timm layout, with
PyTorch reference outputs, for the tests of src/core/model/hf (safetensors reader + ViT builder).

No `transformers`, `timm` or `safetensors` package is used (none is installed here): the modules below re-state
the published forward passes with the same module names, so `state_dict()` gives the checkpoint names.
  * transformers `modeling_vit.py` / `modeling_deit.py`: ViTEmbeddings (patch conv, CLS [+ distillation] token,
    position embeddings), ViTLayer (pre-norm: layernorm_before -> self-attention with separate query/key/value
    Linear layers -> attention.output.dense -> + residual; layernorm_after -> intermediate.dense -> exact GELU ->
    output.dense -> + residual), final layernorm, classifier on token 0 (no pooler in *ForImageClassification);
    DeiTForImageClassificationWithTeacher: (cls_classifier(token 0) + distillation_classifier(token 1)) / 2.
    hidden_states = (embeddings output, output of layer 0, ..., output of layer L-1): index i = after block i.
  * timm `vision_transformer.py` / `deit.py`: patch_embed.proj, cls_token (+ dist_token), pos_embed,
    blocks.N.{norm1, attn.qkv (fused q|k|v rows), attn.proj, norm2, mlp.fc1, mlp.fc2}, norm, head (+ head_dist,
    eval output (head + head_dist) / 2), LayerNorm eps 1e-6.
The timm checkpoints hold the same weights as the HF ones (converted name by name, q/k/v concatenated), so the
test also checks that both layouts are read the same way; their references are computed by the timm modules.

Run with Debian's python3 (python3-torch 1.13):  /usr/bin/python3 make_fixtures.py  (writes beside this file)
"""
import hashlib
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------- safetensors
def save_safetensors(path, tensors, dtype='F32', metadata=None):
    """safetensors: u64 LE header length, JSON header {name: {dtype, shape, data_offsets}}, raw LE data."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        if dtype == 'F32':
            b = t.float().numpy().astype('<f4').tobytes()
        elif dtype == 'F16':
            b = t.half().numpy().astype('<f2').tobytes()
        elif dtype == 'BF16':
            b = t.bfloat16().view(torch.int16).numpy().astype('<i2').tobytes()
        else:
            raise ValueError(dtype)
        header[name] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header['__metadata__'] = metadata
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ------------------------------------------------------------------------------------- transformers layout
class HFPatchEmbeddings(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.projection = nn.Conv2d(c['num_channels'], c['hidden_size'], c['patch_size'], stride=c['patch_size'])

    def forward(s, x):
        return s.projection(x).flatten(2).transpose(1, 2)


class HFEmbeddings(nn.Module):
    def __init__(s, c, distill):
        super().__init__()
        d, n = c['hidden_size'], (c['image_size'] // c['patch_size']) ** 2
        s.distill = distill
        s.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        if distill:
            s.distillation_token = nn.Parameter(torch.zeros(1, 1, d))
        s.patch_embeddings = HFPatchEmbeddings(c)
        s.position_embeddings = nn.Parameter(torch.zeros(1, n + 1 + int(distill), d))

    def forward(s, x):
        p = s.patch_embeddings(x)
        b = p.shape[0]
        toks = [s.cls_token.expand(b, -1, -1)] + ([s.distillation_token.expand(b, -1, -1)] if s.distill else []) + [p]
        return torch.cat(toks, 1) + s.position_embeddings


class HFSelfAttention(nn.Module):
    def __init__(s, c):
        super().__init__()
        d = c['hidden_size']
        s.h = c['num_attention_heads']
        s.query = nn.Linear(d, d, bias=c['qkv_bias'])
        s.key = nn.Linear(d, d, bias=c['qkv_bias'])
        s.value = nn.Linear(d, d, bias=c['qkv_bias'])

    def forward(s, x):
        b, t, d = x.shape
        hd = d // s.h
        heads = lambda z: z.view(b, t, s.h, hd).permute(0, 2, 1, 3)
        q, k, v = heads(s.query(x)), heads(s.key(x)), heads(s.value(x))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), -1)
        return (probs @ v).permute(0, 2, 1, 3).reshape(b, t, d)


class HFSelfOutput(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.dense = nn.Linear(c['hidden_size'], c['hidden_size'])

    def forward(s, x):
        return s.dense(x)


class HFAttention(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.attention = HFSelfAttention(c)
        s.output = HFSelfOutput(c)

    def forward(s, x):
        return s.output(s.attention(x))


class HFIntermediate(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.dense = nn.Linear(c['hidden_size'], c['intermediate_size'])

    def forward(s, x):
        return F.gelu(s.dense(x))  # exact (erf) GELU: hidden_act "gelu"


class HFOutput(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.dense = nn.Linear(c['intermediate_size'], c['hidden_size'])

    def forward(s, x, residual):
        return s.dense(x) + residual


class HFLayer(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.attention = HFAttention(c)
        s.intermediate = HFIntermediate(c)
        s.output = HFOutput(c)
        s.layernorm_before = nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])
        s.layernorm_after = nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])

    def forward(s, h):
        h = s.attention(s.layernorm_before(h)) + h
        return s.output(s.intermediate(s.layernorm_after(h)), h)


class HFEncoder(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.layer = nn.ModuleList([HFLayer(c) for _ in range(c['num_hidden_layers'])])


class HFModel(nn.Module):
    def __init__(s, c, distill=False):
        super().__init__()
        s.embeddings = HFEmbeddings(c, distill)
        s.encoder = HFEncoder(c)
        s.layernorm = nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])

    def forward(s, x):
        h = s.embeddings(x)
        hs = [h]
        for layer in s.encoder.layer:
            h = layer(h)
            hs.append(h)
        return s.layernorm(h), hs  # hidden_states: the last one is before the final layernorm, as in transformers


class ViTForImageClassification(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.vit = HFModel(c)
        s.classifier = nn.Linear(c['hidden_size'], len(c['id2label']))

    def forward(s, x):
        seq, hs = s.vit(x)
        return s.classifier(seq[:, 0]), hs


class DeiTForImageClassificationWithTeacher(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.deit = HFModel(c, distill=True)
        s.cls_classifier = nn.Linear(c['hidden_size'], len(c['id2label']))
        s.distillation_classifier = nn.Linear(c['hidden_size'], len(c['id2label']))

    def forward(s, x):
        seq, hs = s.deit(x)
        return (s.cls_classifier(seq[:, 0]) + s.distillation_classifier(seq[:, 1])) / 2, hs


# --------------------------------------------------------------------------------------------- timm layout
class TimmPatchEmbed(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.proj = nn.Conv2d(c['num_channels'], c['hidden_size'], c['patch_size'], stride=c['patch_size'])

    def forward(s, x):
        return s.proj(x).flatten(2).transpose(1, 2)


class TimmAttention(nn.Module):
    def __init__(s, c):
        super().__init__()
        d = c['hidden_size']
        s.h = c['num_attention_heads']
        s.qkv = nn.Linear(d, 3 * d, bias=c['qkv_bias'])
        s.proj = nn.Linear(d, d)

    def forward(s, x):
        b, n, d = x.shape
        hd = d // s.h
        q, k, v = s.qkv(x).reshape(b, n, 3, s.h, hd).permute(2, 0, 3, 1, 4).unbind(0)
        attn = ((q * hd ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        return s.proj((attn @ v).transpose(1, 2).reshape(b, n, d))


class TimmMlp(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.fc1 = nn.Linear(c['hidden_size'], c['intermediate_size'])
        s.fc2 = nn.Linear(c['intermediate_size'], c['hidden_size'])

    def forward(s, x):
        return s.fc2(F.gelu(s.fc1(x)))


class TimmBlock(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.norm1 = nn.LayerNorm(c['hidden_size'], eps=1e-6)
        s.attn = TimmAttention(c)
        s.norm2 = nn.LayerNorm(c['hidden_size'], eps=1e-6)
        s.mlp = TimmMlp(c)

    def forward(s, x):
        x = x + s.attn(s.norm1(x))
        return x + s.mlp(s.norm2(x))


class TimmViT(nn.Module):
    def __init__(s, c, distill=False):
        super().__init__()
        d, n = c['hidden_size'], (c['image_size'] // c['patch_size']) ** 2
        s.distill = distill
        s.patch_embed = TimmPatchEmbed(c)
        s.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        if distill:
            s.dist_token = nn.Parameter(torch.zeros(1, 1, d))
        s.pos_embed = nn.Parameter(torch.zeros(1, n + 1 + int(distill), d))
        s.blocks = nn.Sequential(*[TimmBlock(c) for _ in range(c['num_hidden_layers'])])
        s.norm = nn.LayerNorm(d, eps=1e-6)
        s.head = nn.Linear(d, len(c['id2label']))
        if distill:
            s.head_dist = nn.Linear(d, len(c['id2label']))

    def forward(s, x):
        x = s.patch_embed(x)
        b = x.shape[0]
        toks = [s.cls_token.expand(b, -1, -1)] + ([s.dist_token.expand(b, -1, -1)] if s.distill else []) + [x]
        x = torch.cat(toks, 1) + s.pos_embed
        hs = [x]
        for blk in s.blocks:
            x = blk(x)
            hs.append(x)
        x = s.norm(x)
        if s.distill:
            return (s.head(x[:, 0]) + s.head_dist(x[:, 1])) / 2, hs
        return s.head(x[:, 0]), hs


def hf_to_timm(sd, prefix, layers, distill):
    """The HF state dict renamed to timm's names (q, k, v rows concatenated into qkv)."""
    p = prefix
    out = {
        'cls_token': sd[p + 'embeddings.cls_token'],
        'pos_embed': sd[p + 'embeddings.position_embeddings'],
        'patch_embed.proj.weight': sd[p + 'embeddings.patch_embeddings.projection.weight'],
        'patch_embed.proj.bias': sd[p + 'embeddings.patch_embeddings.projection.bias'],
        'norm.weight': sd[p + 'layernorm.weight'],
        'norm.bias': sd[p + 'layernorm.bias'],
    }
    if distill:
        out['dist_token'] = sd[p + 'embeddings.distillation_token']
        for k in ('weight', 'bias'):
            out['head.' + k] = sd['cls_classifier.' + k]
            out['head_dist.' + k] = sd['distillation_classifier.' + k]
    else:
        for k in ('weight', 'bias'):
            out['head.' + k] = sd['classifier.' + k]
    for i in range(layers):
        h, t = f'{p}encoder.layer.{i}.', f'blocks.{i}.'
        for k in ('weight', 'bias'):
            out[t + 'norm1.' + k] = sd[h + 'layernorm_before.' + k]
            out[t + 'norm2.' + k] = sd[h + 'layernorm_after.' + k]
            out[t + 'attn.proj.' + k] = sd[h + 'attention.output.dense.' + k]
            out[t + 'mlp.fc1.' + k] = sd[h + 'intermediate.dense.' + k]
            out[t + 'mlp.fc2.' + k] = sd[h + 'output.dense.' + k]
            qkv = [h + f'attention.attention.{n}.' + k for n in ('query', 'key', 'value')]
            if qkv[0] in sd:
                out[t + 'attn.qkv.' + k] = torch.cat([sd[n] for n in qkv], 0)
    return out


# ------------------------------------------------------------------------------------------------- helpers
def randomize(model, seed):
    """Default PyTorch init for Linear/Conv; LayerNorm weight ~ U(0.75, 1.25), bias ~ N(0, 0.1^2); tokens and
    position embeddings ~ N(0, 0.5^2), so no layer is a no-op and the hidden states stay distinct."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, prm in model.named_parameters():
            if any(k in name for k in ('layernorm', 'norm1', 'norm2', 'norm.')) or name.startswith('norm'):
                if name.endswith('weight'):
                    prm.copy_(torch.rand(prm.shape, generator=g) * 0.5 + 0.75)
                else:
                    prm.copy_(torch.randn(prm.shape, generator=g) * 0.1)
            elif name.endswith(('cls_token', 'distillation_token', 'position_embeddings', 'dist_token', 'pos_embed')):
                prm.copy_(torch.randn(prm.shape, generator=g) * 0.5)


def write_bin(name, t):
    a = t.detach().float().contiguous().numpy().astype('<f4')
    path = os.path.join(OUT, 'ref', name)
    a.tofile(path)
    return {'file': 'ref/' + name, 'shape': list(a.shape), 'sha256': hashlib.sha256(a.tobytes()).hexdigest()}


def rel(a, b):
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())


def write_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2)
        f.write('\n')


NAMES = ['apple', 'bear', 'castle', 'dolphin', 'eagle', 'forest', 'guitar', 'harbor', 'iceberg', 'jellyfish']


def hf_config(arch, model_type, c):
    return {
        'architectures': [arch], 'model_type': model_type, 'hidden_act': 'gelu',
        'hidden_dropout_prob': 0.0, 'attention_probs_dropout_prob': 0.0, 'initializer_range': 0.02,
        'encoder_stride': c['patch_size'], **c,
        'id2label': {str(i): n for i, n in enumerate(c['id2label'])},
        'label2id': {n: i for i, n in enumerate(c['id2label'])},
    }


def make(name, arch, model_type, c, distill, seed, mean, std, grads, extra_dtypes=(), preprocessor=True):
    os.makedirs(os.path.join(OUT, 'ref'), exist_ok=True)
    torch.manual_seed(seed)
    model = (DeiTForImageClassificationWithTeacher if distill else ViTForImageClassification)(c).eval()
    randomize(model, seed)
    prefix = 'deit.' if distill else 'vit.'
    timm = TimmViT(c, distill).eval()
    missing = timm.load_state_dict(hf_to_timm(model.state_dict(), prefix, c['num_hidden_layers'], distill), strict=True)
    assert not missing.missing_keys and not missing.unexpected_keys

    # The folders: HF (config.json, preprocessor_config.json, model.safetensors) and timm (config.json, model.safetensors).
    hf_dir, timm_dir = os.path.join(OUT, name + '_hf'), os.path.join(OUT, name + '_timm')
    os.makedirs(hf_dir, exist_ok=True)
    os.makedirs(timm_dir, exist_ok=True)
    cfg = dict(c)
    cfg['id2label'] = c['id2label']
    write_json(os.path.join(hf_dir, 'config.json'), hf_config(arch, model_type, cfg))
    if preprocessor:  # else the loader's default for the model type must give the mean/std
        write_json(os.path.join(hf_dir, 'preprocessor_config.json'), {
            'do_normalize': True, 'do_rescale': True, 'do_resize': True, 'image_mean': mean, 'image_std': std,
            'image_processor_type': 'ViTImageProcessor', 'resample': 2, 'rescale_factor': 1 / 255,
            'size': {'height': c['image_size'], 'width': c['image_size']},
        })
    save_safetensors(os.path.join(hf_dir, 'model.safetensors'), model.state_dict(), metadata={'format': 'pt'})
    size = 'tiny'
    timm_arch = ('deit_%s_distilled_patch%d_%d' if distill else 'vit_%s_patch%d_%d') % (size, c['patch_size'], c['image_size'])
    write_json(os.path.join(timm_dir, 'config.json'), {
        'architecture': timm_arch, 'num_classes': len(c['id2label']), 'num_features': c['hidden_size'], 'global_pool': 'token',
        'model_args': {'img_size': c['image_size'], 'patch_size': c['patch_size'], 'embed_dim': c['hidden_size'],
                       'depth': c['num_hidden_layers'], 'num_heads': c['num_attention_heads'],
                       'mlp_ratio': c['intermediate_size'] / c['hidden_size'], 'qkv_bias': c['qkv_bias']},
        'label_names': c['id2label'],
        'pretrained_cfg': {'input_size': [3, c['image_size'], c['image_size']], 'mean': mean, 'std': std,
                           'num_classes': len(c['id2label']), 'first_conv': 'patch_embed.proj',
                           'classifier': ['head', 'head_dist'] if distill else 'head', 'crop_pct': 0.875, 'interpolation': 'bicubic'},
    })
    save_safetensors(os.path.join(timm_dir, 'model.safetensors'), timm.state_dict())

    # The input: an image in [0,1), normalized with the preprocessor's mean/std (pixel_values), NCHW.
    torch.manual_seed(1)
    img = torch.rand(1, c['num_channels'], c['image_size'], c['image_size'])
    x = (img - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
    ref = {'model': name, 'config': c, 'input': write_bin(f'{name}.input.bin', x), 'image': write_bin(f'{name}.image.bin', img),
           'environment': {'torch': torch.__version__, 'python': sys.version.split()[0]}}
    for layout, m in (('hf', model), ('timm', timm)):
        with torch.no_grad():
            logits, hs = m(x)
            logits64, hs64 = m.double()(x.double())
            m.float()
        r = {'logits': write_bin(f'{name}_{layout}.logits.bin', logits),
             'hidden_states': write_bin(f'{name}_{layout}.hidden_states.bin', torch.stack(hs, 0)[:, 0]),
             'fp32_vs_fp64': {'logits': rel(logits, logits64), 'hidden_states': max(rel(a, b) for a, b in zip(hs, hs64))},
             'gradients': []}
        for g in grads:
            xi = x.clone().requires_grad_(True)
            logits, hs = m(xi)
            if g['kind'] == 'logit':
                obj = logits[0, g['index']]
            else:
                h = hs[g['layer']]
                obj = (h[:, 1:, g['index']] if g.get('nocls') else h[:, :, g['index']]).mean()
            (grad,) = torch.autograd.grad(obj, xi)
            gid = g['id']
            r['gradients'].append({**g, 'value': float(obj), **write_bin(f'{name}_{layout}.grad_{gid}.bin', grad)})
        ref[layout] = r
    # The same HF model stored in half precision: its references use the rounded weights.
    for dt, cast in extra_dtypes:
        d = os.path.join(OUT, f'{name}_hf_{dt.lower()}')
        os.makedirs(d, exist_ok=True)
        write_json(os.path.join(d, 'config.json'), hf_config(arch, model_type, cfg))
        save_safetensors(os.path.join(d, 'model.safetensors'), model.state_dict(), dtype=dt)
        rounded = (DeiTForImageClassificationWithTeacher if distill else ViTForImageClassification)(c).eval()
        rounded.load_state_dict({k: v.to(cast).float() for k, v in model.state_dict().items()})
        with torch.no_grad():
            lr, _ = rounded(x)
            lf, _ = model(x)
        ref[f'hf_{dt.lower()}'] = {'logits': write_bin(f'{name}_hf_{dt.lower()}.logits.bin', lr), 'vs_float32_weights': rel(lr, lf)}
    write_json(os.path.join(OUT, 'ref', f'{name}.ref.json'), ref)
    print(name, 'hf logits', ref['hf']['logits']['shape'], 'fp32 vs fp64', ref['hf']['fp32_vs_fp64'], ref['timm']['fp32_vs_fp64'])


def main():
    vit = {'image_size': 32, 'patch_size': 8, 'num_channels': 3, 'hidden_size': 24, 'num_hidden_layers': 8,
           'num_attention_heads': 3, 'intermediate_size': 48, 'layer_norm_eps': 1e-12, 'qkv_bias': True, 'id2label': NAMES}
    make('vit', 'ViTForImageClassification', 'vit', vit, False, 0, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225],
         [{'id': 'hs8_d5', 'kind': 'vit', 'layer': 8, 'index': 5},
          {'id': 'hs8_d5_nocls', 'kind': 'vit', 'layer': 8, 'index': 5, 'nocls': True},
          {'id': 'hs3_d0', 'kind': 'vit', 'layer': 3, 'index': 0},
          {'id': 'logit3', 'kind': 'logit', 'index': 3}],
         extra_dtypes=(('F16', torch.float16), ('BF16', torch.bfloat16)))
    deit = {'image_size': 24, 'patch_size': 8, 'num_channels': 3, 'hidden_size': 16, 'num_hidden_layers': 2,
            'num_attention_heads': 2, 'intermediate_size': 32, 'layer_norm_eps': 1e-12, 'qkv_bias': False, 'id2label': NAMES[:5]}
    # No preprocessor_config.json: DeiT's image processor defaults are ImageNet's mean/std.
    make('deit', 'DeiTForImageClassificationWithTeacher', 'deit', deit, True, 3, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225],
         [{'id': 'hs2_d1', 'kind': 'vit', 'layer': 2, 'index': 1}, {'id': 'logit2', 'kind': 'logit', 'index': 2}],
         preprocessor=False)


if __name__ == '__main__':
    main()
