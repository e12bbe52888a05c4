import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../../backend';
import { loadModel } from '../index';
import { encodeModel } from './proto';
import { MAX_OPSET, MIN_OPSET } from './opset';
import { FLOAT, floatInit, node, writeModel } from './test_graphs';

describe('ONNX opset range', () => {
  let dir: string;
  before(async () => {
    await initBackend('cpu');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-opset-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const relu = (opset: number) => writeModel(dir, `relu${opset}.onnx`, [node('Relu', ['input'], ['logits'])], [floatInit('unused', [1], [0])], [1, 4, 4], ['logits'], opset);

  it(`loads opsets ${MIN_OPSET} and ${MAX_OPSET}`, async () => {
    for (const opset of [MIN_OPSET, MAX_OPSET]) (await loadModel(relu(opset))).dispose();
  });

  it('refuses an opset outside the range, naming the file, the opset and the range', async () => {
    for (const opset of [1, MIN_OPSET - 1, MAX_OPSET + 1, 99]) {
      const f = relu(opset);
      await assert.rejects(loadModel(f), { message: `${f}: ONNX opset ${opset} is not supported: the importer supports opsets ${MIN_OPSET} to ${MAX_OPSET} (export with torch.onnx.export(..., opset_version=${MAX_OPSET}))` });
    }
  });

  it('refuses a model that imports no opset of the default domain', async () => {
    const f = path.join(dir, 'none.onnx');
    fs.writeFileSync(f, encodeModel({
      irVersion: 7, opsetImport: [{ domain: 'com.example', version: 1 }],
      graph: { name: 'g', node: [node('Relu', ['input'], ['logits'])], input: [{ name: 'input', type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: 1 }, { dimValue: 4 }, { dimValue: 4 }] } } } }], output: [{ name: 'logits' }] },
    }));
    await assert.rejects(loadModel(f), { message: `${f}: the model imports no opset of the default ONNX domain (ai.onnx), so its ops have no defined meaning; the importer supports opsets ${MIN_OPSET} to ${MAX_OPSET}` });
  });
});
