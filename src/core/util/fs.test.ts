import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFileSync, spawnSync } from 'child_process';
import { parseJson, readRegular, writeFileAtomic } from './fs';

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

describe('readRegular: only regular files, refused before reading', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-fs-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Runs `readRegular(file)` in a child process with a time limit, so a blocking open or an endless read fails the test instead of hanging it. */
  const readInChild = (file: string): { status: number | null; stderr: string; ms: number } => {
    const t0 = Date.now();
    const code = `try { require(${JSON.stringify(path.join(__dirname, 'fs.ts'))}).readRegular(${JSON.stringify(file)}); } catch (e) { console.error(e.message); process.exit(3); }`;
    const r = spawnSync(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', code], { timeout: 20000, encoding: 'utf8' });
    return { status: r.status, stderr: r.stderr, ms: Date.now() - t0 };
  };

  it('a named pipe (e.g. an image or a shard) is refused at once, not waited on', () => {
    const fifo = path.join(dir, 'photo.png');
    execFileSync('mkfifo', [fifo]);
    const r = readInChild(fifo);
    assert.strictEqual(r.status, 3, `no refusal within the time limit: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`cannot read ${fifo}: it is a named pipe \\(FIFO\\), not a regular file`));
  });

  it('a symbolic link to /dev/zero is refused, not read without end', () => {
    const zero = path.join(dir, 'photo.png');
    fs.symlinkSync('/dev/zero', zero);
    const r = readInChild(zero);
    assert.strictEqual(r.status, 3, `no refusal within the time limit: ${r.stderr}`);
    assert.match(r.stderr, /photo\.png: it is a character device, not a regular file/);
  });

  it('reads regular files, refuses a directory and sizes over the limit, and names the file', () => {
    const f = path.join(dir, 'a.json');
    fs.writeFileSync(f, '{"a": [1, 2]}');
    assert.deepStrictEqual(parseJson(readRegular(f).toString('utf8'), f), { a: [1, 2] });
    assert.throws(() => readRegular(f, 4), (e: Error) => e.message === `cannot read ${f}: it is 13 bytes, over the 4-byte limit`);
    assert.throws(() => readRegular(dir), (e: Error) => e.message === `cannot read ${dir}: it is a directory, not a regular file`);
    assert.throws(() => readRegular(path.join(dir, 'no.json')), /cannot read .*no\.json: no such file or folder \(ENOENT\)/);
    assert.throws(() => parseJson('{"a": ', f), (e: Error) => e.message.startsWith(`${f} is not valid JSON: `));
  });
});
