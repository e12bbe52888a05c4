// channel:<layer>:<c|a-b>: the mean over space of a channel of a conv layer (or one unit of a dense layer).
import type { UnitKind } from '../registry';
import { addChannelMean, checkIndex, parseIndexRange, safe, splitLayer, type Term } from '../units';

export const channel: UnitKind = {
  name: 'channel',
  syntax: 'channel:<layer>:<c|a-b>',
  description: 'the mean over space of a channel (or one unit of a dense layer)',
  example: 'channel:conv_pw_6:0-7',
  appliesTo: (layer, model) => layer.name !== model.logitsLayer && layer.outputShape.length !== 3 && layer.channels > 0,
  parse(body, model, spec): Term[] {
    const { layer, tail: [index] } = splitLayer(model, body, 1, spec, 'channel:<layer>:<index>');
    const idx = parseIndexRange(index, 'channel', spec);
    for (const i of idx) checkIndex(i, layer.channels, 'channel', layer.name, spec);
    return idx.map((c): Term => ({
      kind: 'channel', layer: layer.name, weight: 1,
      spec: `channel:${layer.name}:${c}`, label: `${layer.name} ch${c}`, stem: `channel-${safe(layer.name)}-${c}`,
      addMask: (data, offset, shape, weight) => addChannelMean(data, offset, shape, c, weight),
    }));
  },
};
