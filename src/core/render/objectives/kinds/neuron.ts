// neuron:<layer>:<c>[:<x>,<y>]: one spatial position of a channel (the centre by default).
import type { UnitKind } from '../registry';
import { checkIndex, parseIndexRange, safe, splitLayer, type Term } from '../units';

export const neuron: UnitKind = {
  name: 'neuron',
  syntax: 'neuron:<layer>:<c>[:<x>,<y>]',
  description: 'one position of a channel (the centre by default)',
  example: 'neuron:conv_pw_6:3:7,7',
  appliesTo: (layer) => layer.outputShape.length === 4,
  parse(body, model, spec): Term[] {
    const hasPos = body.split(':').length >= 3 && /:\d+,\d+$/.test(body);
    const { layer, tail } = splitLayer(model, body, hasPos ? 2 : 1, spec, 'neuron:<layer>:<index>');
    const idx = parseIndexRange(tail[0], 'channel', spec);
    for (const i of idx) checkIndex(i, layer.channels, 'channel', layer.name, spec);
    const shape = layer.outputShape;
    if (shape.length !== 4) throw new Error(`unit "${spec}": neuron units need a [batch, height, width, channels] layer; "${layer.name}" has shape ${JSON.stringify(shape)}`);
    let x: number | undefined; let y: number | undefined;
    if (hasPos) {
      [x, y] = tail[1].split(',').map(Number);
      const [h, w] = [shape[1]!, shape[2]!];
      if (x >= w || y >= h) throw new Error(`unit "${spec}": position ${x},${y} is outside the ${w}x${h} map of "${layer.name}"`);
    }
    const at = x === undefined ? '' : `:${x},${y}`;
    return idx.map((c): Term => ({
      kind: 'neuron', layer: layer.name, weight: 1,
      spec: `neuron:${layer.name}:${c}${at}`,
      label: `${layer.name} n${c}${x === undefined ? '' : `@${x},${y}`}`,
      stem: `neuron-${safe(layer.name)}-${c}${x === undefined ? '' : `-${x}_${y}`}`,
      addMask: (data, offset, s, weight) => {
        const [h, w, channels] = s;
        const px = x ?? Math.floor(w / 2);
        const py = y ?? Math.floor(h / 2);
        data[offset + (py * w + px) * channels + c] += weight;
      },
    }));
  },
};
