// logit:<index|class name|a-b>: a pre-softmax class logit.
import { className, resolveClass } from '../../../model/classes';
import type { UnitKind } from '../registry';
import { addChannelMean, checkIndex, parseIndexRange, type Term } from '../units';

export const logit: UnitKind = {
  name: 'logit',
  syntax: 'logit:<index|class name|a-b>',
  description: 'a pre-softmax class logit',
  example: 'logit:goldfish',
  appliesTo: (layer, model) => layer.name === model.logitsLayer,
  parse(body, model, spec): Term[] {
    const value = body.trim();
    if (!value) throw new Error(`bad unit "${spec}": expected logit:<index|name> or logit:a-b`);
    if (!model.logitsLayer) throw new Error(`unit "${spec}": the model has no pre-softmax logits layer (none found automatically; set "logitsLayer" in neuron-lens.json)`);
    const idx = /^\d+-\d+$/.test(value) ? parseIndexRange(value, 'class range', spec) : [resolveClass(model, value, spec)];
    for (const i of idx) checkIndex(i, model.classCount, 'class', model.logitsLayer, spec);
    return idx.map((index): Term => {
      const name = className(model, index);
      return {
        kind: 'logit', layer: model.logitsLayer!, weight: 1,
        spec: `logit:${index}`, label: name ? `${index} ${name}` : `logit ${index}`, stem: `logit-${index}`,
        // The logits layer's mask is flat ([classes]): one position, so the "mean" is the logit itself.
        addMask: (data, offset, shape, weight) => addChannelMean(data, offset, shape, index, weight),
      };
    });
  },
};
