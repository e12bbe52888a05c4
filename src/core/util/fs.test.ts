import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeFileAtomic } from './fs';

describe('writeFileAtomic', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-fs-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('creates parent folders, replaces existing files, and leaves no temporary files', () => {
    const f = path.join(dir, 'a', 'b', 'out.json');
    writeFileAtomic(f, '{"x":1}');
    assert.strictEqual(fs.readFileSync(f, 'utf8'), '{"x":1}');
    writeFileAtomic(f, Uint8Array.of(1, 2, 3));
    assert.deepStrictEqual([...fs.readFileSync(f)], [1, 2, 3]);
    assert.deepStrictEqual(fs.readdirSync(path.dirname(f)), ['out.json']);
  });

  it('names the file when it cannot write, and cleans up', () => {
    const target = path.join(dir, 'taken');
    fs.mkdirSync(path.join(target, 'child'), { recursive: true }); // a non-empty directory cannot be replaced
    assert.throws(() => writeFileAtomic(target, 'x'), (e: Error) => e.message.startsWith(`cannot write ${target}:`));
    assert.deepStrictEqual(fs.readdirSync(dir), ['taken']);
  });
});
