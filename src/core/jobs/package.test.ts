// package.json is static JSON: these tests fail when its settings, menus or activation events drift from
// the tables they copy (the option table, the backend names, the model file kinds).
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { repoRoot } from '../testing/fixtures';
import { BACKEND_SETTINGS } from '../backend/names';
import { modelFileActivationEvents, modelFileWhenClause } from '../model/formats';
import { EDITOR_OPTIONS, VISUALIZE_OPTIONS, type OptionSpec } from './options';

const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
const props: Record<string, Record<string, unknown>> = pkg.contributes.configuration.properties;

describe('package.json matches the tables it copies', () => {
  const settings: OptionSpec[] = [...VISUALIZE_OPTIONS, ...EDITOR_OPTIONS].filter((o) => 'setting' in o && o.setting);

  for (const o of settings) {
    it(`neuronLens.${o.key}: type, default and limits of the option table`, () => {
      const p = props[`neuronLens.${o.key}`];
      assert.ok(p, `package.json has no setting neuronLens.${o.key}`);
      assert.equal(p.type, o.type);
      if (o.default === undefined) {
        // No default: the setting's 0 means "let the job decide" (e.g. size: the model's input size).
        assert.equal(p.default, 0, `neuronLens.${o.key}: 0 stands for "no value"`);
        assert.equal(p.minimum, 0);
      } else {
        assert.equal(p.default, o.default);
        assert.equal(p.minimum, o.min);
      }
      assert.equal(p.maximum, o.max);
      assert.equal(p.exclusiveMinimum, o.positive ? 0 : undefined);
      // A fixed enum would make a new parameterization touch package.json: the engine checks names instead.
      assert.deepEqual(p.enum, o.choices);
    });
  }

  it('every neuronLens setting but the backend comes from the option table', () => {
    const fromTable = new Set(settings.map((o) => `neuronLens.${o.key}`));
    const extra = Object.keys(props).filter((k) => !fromTable.has(k) && k !== 'neuronLens.backend');
    assert.deepEqual(extra, []);
  });

  it('neuronLens.backend lists the backend names of core/backend', () => {
    assert.deepEqual(props['neuronLens.backend'].enum, [...BACKEND_SETTINGS]);
    assert.equal(props['neuronLens.backend'].default, 'auto');
  });

  it('"Open in Neuron Lens" shows on every model file kind, and those files activate the extension', () => {
    const open = pkg.contributes.menus['explorer/context'].find((m: { command: string }) => m.command === 'neuronLens.openInNeuronLens');
    assert.equal(open.when, modelFileWhenClause());
    const events = (pkg.activationEvents as string[]).filter((e) => e.startsWith('workspaceContains:'));
    assert.deepEqual(events, modelFileActivationEvents());
  });
});
