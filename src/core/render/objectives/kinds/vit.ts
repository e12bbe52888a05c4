// vit:<layer>:<d|a-b>[:nocls]: hidden dimension d of a [batch, tokens, dim] layer, mean over tokens.
import type { UnitKind } from '../registry';
import { addChannelMean, checkIndex, parseIndexRange, safe, splitLayer, type Term } from '../units';

export const vit: UnitKind = {
  name: 'vit',
  syntax: 'vit:<layer>:<d|a-b>[:nocls]',
  description: 'ViT hidden dimension d of a [batch, tokens, dim] layer, mean over tokens (nocls: without the first token)',
  example: 'vit:block_2:0-7:nocls',
  appliesTo: (layer) => layer.outputShape.length === 3,
  parse(body, model, spec): Term[] {
    const noCls = body.split(':').length >= 3 && body.endsWith(':nocls');
    const { layer, tail } = splitLayer(model, body, noCls ? 2 : 1, spec, 'vit:<layer>:<index>');
    const idx = parseIndexRange(tail[0], 'hidden dimension', spec);
    for (const i of idx) checkIndex(i, layer.channels, 'hidden dimension', layer.name, spec);
    if (layer.outputShape.length !== 3) throw new Error(`unit "${spec}": vit units need a [batch, tokens, dim] layer; "${layer.name}" has shape ${JSON.stringify(layer.outputShape)}`);
    const nc = noCls ? ':nocls' : '';
    return idx.map((d): Term => ({
      kind: 'vit', layer: layer.name, weight: 1,
      spec: `vit:${layer.name}:${d}${nc}`, label: `${layer.name} d${d}${noCls ? ' nocls' : ''}`, stem: `vit-${safe(layer.name)}-${d}${noCls ? '-nocls' : ''}`,
      addMask: (data, offset, shape, weight) => addChannelMean(data, offset, shape, d, weight, noCls ? 1 : 0),
    }));
  },
};
