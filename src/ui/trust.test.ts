import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { loadRefusal, UNTRUSTED_DESCRIPTION } from './trust';
import { repoRoot } from '../core/testing/fixtures';

describe('workspace trust policy', () => {
  const bundledDir = '/ext/neuron-lens/models';

  it('loads every model in a trusted workspace', () => {
    assert.strictEqual(loadRefusal('/ws/models/net.onnx', { trusted: true, bundledDir }), undefined);
  });

  it('in an untrusted workspace loads only the bundled examples, and says how to trust for the rest', () => {
    const t = { trusted: false, bundledDir };
    assert.strictEqual(loadRefusal('/ext/neuron-lens/models/fashion_cnn/model.json', t), undefined);
    assert.strictEqual(loadRefusal('/ws/models/net.onnx', t), 'Neuron Lens loads net.onnx only in a trusted workspace: trust this workspace (Workspaces: Manage Workspace Trust) to load and visualize it');
    // Neither a sibling folder that shares the prefix nor a path climbing out of the folder is bundled.
    assert.match(loadRefusal('/ext/neuron-lens/models-evil/model.json', t) ?? '', /only in a trusted workspace/);
    assert.match(loadRefusal('/ext/neuron-lens/models/../../ws/model.json', t) ?? '', /only in a trusted workspace/);
    assert.match(loadRefusal(bundledDir, t) ?? '', /only in a trusted workspace/);
  });

  it('is what package.json declares to VS Code', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
    assert.deepStrictEqual(pkg.capabilities, { untrustedWorkspaces: { supported: 'limited', description: UNTRUSTED_DESCRIPTION } });
  });
});
