import { strict as assert } from 'assert';
import { unitKindInfos } from '../core/render/objectives';
import { specFromSyntax } from './specs';

describe('editor unit specs from the registry syntax', () => {
  it('fills the layer and the value, leaving optional parts out', () => {
    assert.equal(specFromSyntax('channel:<layer>:<c|a-b>', 'conv_b', '0-7'), 'channel:conv_b:0-7');
    assert.equal(specFromSyntax('logit:<index|class name|a-b>', 'logits', '3'), 'logit:3');
    assert.equal(specFromSyntax('neuron:<layer>:<c>[:<x>,<y>]', 'conv_a', '2'), 'neuron:conv_a:2');
    assert.equal(specFromSyntax('vit:<layer>:<d|a-b>[:nocls]', 'block_2', '5'), 'vit:block_2:5');
  });

  it('every registered kind gives a spec of its own kind', () => {
    for (const k of unitKindInfos()) assert.ok(specFromSyntax(k.syntax, 'L', '0').startsWith(`${k.name}:`), k.syntax);
  });
});
