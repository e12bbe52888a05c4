// The built-in unit kinds' registrations (their parsing lives in ./index.ts).
import { registerUnitKind } from './registry';

registerUnitKind({
  name: 'logit',
  syntax: 'logit:<index|class name|a-b>',
  description: 'a pre-softmax class logit',
  example: 'logit:goldfish',
  appliesTo: (layer, model) => layer.name === model.logitsLayer,
});

registerUnitKind({
  name: 'channel',
  syntax: 'channel:<layer>:<c|a-b>',
  description: 'the mean over space of a channel (or one unit of a dense layer)',
  example: 'channel:conv_pw_6:0-7',
  appliesTo: (layer, model) => layer.name !== model.logitsLayer && layer.outputShape.length !== 3 && layer.channels > 0,
});

registerUnitKind({
  name: 'neuron',
  syntax: 'neuron:<layer>:<c>[:<x>,<y>]',
  description: 'one position of a channel (the centre by default)',
  example: 'neuron:conv_pw_6:3:7,7',
  appliesTo: (layer) => layer.outputShape.length === 4,
});

registerUnitKind({
  name: 'vit',
  syntax: 'vit:<layer>:<d|a-b>[:nocls]',
  description: 'ViT hidden dimension d of a [batch, tokens, dim] layer, mean over tokens (nocls: without the first token)',
  example: 'vit:block_2:0-7:nocls',
  appliesTo: (layer) => layer.outputShape.length === 3,
});
