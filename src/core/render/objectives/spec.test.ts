import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../../backend';
import { embeddedModelPath, loadModel } from '../../model';
import type { NLModel } from '../../model/types';
import { kindsForLayer, parseUnits, unitKindInfos } from '.';

describe('unit specs (spec.ts and the unit-kind registry)', () => {
  let model: NLModel;
  before(async () => {
    await initBackend('cpu');
    model = await loadModel(embeddedModelPath('fashion_cnn'));
  });
  after(() => model.dispose());

  const parse = (...specs: string[]) => parseUnits(model, specs);

  it('every built-in kind is registered, with help text and an example', () => {
    const infos = unitKindInfos();
    assert.deepEqual(infos.map((k) => k.name), ['logit', 'channel', 'neuron', 'vit', 'direction', 'cosine']);
    for (const k of infos) {
      assert.ok(k.syntax.startsWith(`${k.name}:`) && k.example.startsWith(`${k.name}:`) && k.description.length > 10, k.name);
    }
    const layer = (n: string) => model.layers.find((l) => l.name === n)!;
    assert.deepEqual(kindsForLayer(layer('conv2_relu'), model), ['channel', 'neuron', 'direction', 'cosine']);
    assert.deepEqual(kindsForLayer(layer('logits'), model), ['logit', 'direction', 'cosine']);
  });

  it('canonical specs, labels and stems round-trip through the parser', () => {
    const cases: [string, string[], string[], string[]][] = [
      ['logit:3', ['logit:3'], ['3 Dress'], ['logit-3']],
      ['logit:Dress', ['logit:3'], ['3 Dress'], ['logit-3']],
      ['logit:1-2', ['logit:1', 'logit:2'], ['1 Trouser', '2 Pullover'], ['logit-1', 'logit-2']],
      ['channel:conv2_relu:4-5', ['channel:conv2_relu:4', 'channel:conv2_relu:5'], ['conv2_relu ch4', 'conv2_relu ch5'], ['channel-conv2_relu-4', 'channel-conv2_relu-5']],
      ['neuron:conv3:2', ['neuron:conv3:2'], ['conv3 n2'], ['neuron-conv3-2']],
      ['neuron:conv3:2:1,6', ['neuron:conv3:2:1,6'], ['conv3 n2@1,6'], ['neuron-conv3-2-1_6']],
      ['direction:conv3:7=-0.5, 3=1', ['direction:conv3:3=1,7=-0.5'], ['conv3 dir(3=1,7=-0.5)'], ['direction-conv3-3x1_7xm0.5']],
      ['cosine:gap:0=0.1', ['cosine:gap:0=0.1'], ['gap cos(0=0.1)'], ['cosine-gap-0x0.1']],
      [' 0.5 * channel:conv2:3 - channel:conv2:7 + 2*logit:1', ['0.5*channel:conv2:3-channel:conv2:7+2*logit:1'],
        ['0.5*conv2 ch3 -conv2 ch7 +2*1 Trouser'], ['0.5xchannel-conv2-3+neg-channel-conv2-7+2xlogit-1']],
      ['channel:conv3:1-direction:conv3:3=1,7=-0.5', ['channel:conv3:1-direction:conv3:3=1,7=-0.5'],
        ['conv3 ch1 -conv3 dir(3=1,7=-0.5)'], ['channel-conv3-1+neg-direction-conv3-3x1_7xm0.5']],
    ];
    for (const [spec, specs, labels, stems] of cases) {
      const units = parse(spec);
      assert.deepEqual(units.map((u) => u.spec), specs, spec);
      assert.deepEqual(units.map((u) => u.label), labels, spec);
      assert.deepEqual(units.map((u) => u.fileStem), stems, spec);
      // The canonical spec parses to itself.
      assert.deepEqual(parse(...specs).map((u) => u.spec), specs, `re-parse of ${specs}`);
    }
    const [sum] = parse('0.5*channel:conv2:3-channel:conv2:7');
    assert.deepEqual(sum.terms.map((t) => [t.kind, t.layer, t.weight]), [['channel', 'conv2', 0.5], ['channel', 'conv2', -1]]);
  });

  it('a long direction is named by a short hash; one from a file by the file and a hash', () => {
    const [long] = parse('direction:conv3:1=1,2=2,3=3,4=4');
    assert.equal(long.spec, 'direction:conv3:1=1,2=2,3=3,4=4');
    assert.match(long.fileStem, /^direction-conv3-[0-9a-f]{8}$/);
    assert.match(long.label, /^conv3 dir #[0-9a-f]{6}$/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-dir-'));
    try {
      const file = path.join(dir, 'stripes.json');
      fs.writeFileSync(file, JSON.stringify({ 1: 1, 2: 2, 3: 3, 4: 4 }));
      const [f] = parse(`direction:conv3:${file}`);
      assert.equal(f.spec, `direction:conv3:${file}`);
      assert.equal(f.fileStem, long.fileStem.replace('conv3-', 'conv3-stripes-'), 'same weights, same hash');
      assert.equal(f.label, long.label.replace('dir ', 'dir stripes.json '));
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });

  it('every malformed spec gives an error naming the spec and the problem', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-bad-'));
    const write = (name: string, text: string) => { const f = path.join(dir, name); fs.writeFileSync(f, text); return f; };
    const short = write('short.json', '[1, 2]');
    const notJson = write('broken.json', '{"3": 1,');
    const badKey = write('key.json', '{"x": 1}');
    const badWeight = write('weight.json', '{"3": "high"}');
    const far = write('far.json', '{"300": 1}');
    const scalar = write('scalar.json', '7');
    const nan = write('nan.json', JSON.stringify(Array.from({ length: 128 }, (_, i) => (i === 5 ? 'x' : 0))));
    const cases: [string[], RegExp][] = [
      [[], /no unit given/],
      [['  '], /empty unit spec/],
      [['chanel:conv1:0'], /bad unit "chanel:conv1:0": unknown kind "chanel" \(expected logit, channel, neuron, vit, direction, cosine\)/],
      [['channel:conv9:0'], /unknown layer "conv9" in unit "channel:conv9:0"; nearest: conv/],
      [['channel:conv1'], /bad unit "channel:conv1": expected channel:<layer>:<index>/],
      [['channel:conv1:x'], /bad channel "x" in unit "channel:conv1:x": expected a number or a range a-b/],
      [['channel:conv1:5-2'], /bad range "5-2" in unit "channel:conv1:5-2": end before start/],
      [['channel:conv1:0-20000'], /range "0-20000" .* is too large \(20001 units\)/],
      [['channel:conv1:32'], /channel 32 is out of range in unit "channel:conv1:32": layer "conv1" has 32 \(0-31\)/],
      [['logit:'], /bad unit "logit:": expected logit:<index\|name> or logit:a-b/],
      [['logit:10'], /class 10 is out of range in unit "logit:10": layer "logits" has 10 \(0-9\)/],
      [['logit:8-10'], /class 10 is out of range in unit "logit:8-10"/],
      [['logit:Dres'], /unknown class "Dres"; nearest: Dress/],
      [['neuron:gap:1'], /neuron units need a \[batch, height, width, channels\] layer; "gap" has shape \[null,128\]/],
      [['neuron:conv3:1:7,0'], /position 7,0 is outside the 7x7 map of "conv3"/],
      [['vit:conv3:1'], /vit units need a \[batch, tokens, dim\] layer; "conv3" has shape/],
      [['channel:conv1:0-1+channel:conv1:2'], /ranges cannot be combined in a sum/],
      [['direction:conv3'], /bad unit "direction:conv3": expected direction:<layer>:<weights>/],
      [['direction:conv9:1=1'], /unknown layer "conv9" in unit "direction:conv9:1=1"; nearest: conv/],
      [['direction:conv3:'], /no direction weights after the layer/],
      [['direction:conv3:128=1'], /channel 128 is out of range in unit "direction:conv3:128=1": layer "conv3" has 128/],
      [['direction:conv3:1=1,1=2'], /channel 1 is given twice/],
      [['direction:conv3:1=0'], /bad unit "direction:conv3:1=0": the direction is zero/],
      [['cosine:conv3:up'], /bad unit "cosine:conv3:up": "up" is neither inline weights \(like 3=1,7=-0.5\) nor a JSON file/],
      [[`direction:conv3:${dir}/missing.json`], /direction file ".*missing.json" \(unit ".*"\): cannot be read: .*no such file or folder/],
      [[`direction:conv3:${short}`], /direction file ".*short.json" \(unit ".*"\): has 2 weights but layer "conv3" has 128 channels/],
      [[`direction:conv3:${notJson}`], /direction file ".*broken.json" .*: not valid JSON/],
      [[`direction:conv3:${badKey}`], /direction file ".*key.json" .*: key "x" is not a channel index/],
      [[`direction:conv3:${badWeight}`], /the weight of channel 3 is "high", not a finite number/],
      [[`direction:conv3:${far}`], /direction file ".*far.json" .*: channel 300 is out of range: layer "conv3" has 128/],
      [[`direction:conv3:${scalar}`], /expected an array of 128 channel weights or an object like \{"3": 1, "7": -0.5\}, got number/],
      [[`cosine:conv3:${nan}`], /weight 5 is "x", not a finite number/],
    ];
    try {
      for (const [specs, re] of cases) assert.throws(() => parse(...specs), re, specs.join(' '));
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });
});
