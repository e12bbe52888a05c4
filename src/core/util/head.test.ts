import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readHead } from './head';

describe('readHead', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-head-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads the first bytes of a regular file, or all of a short one', async () => {
    const f = path.join(dir, 'model.onnx');
    fs.writeFileSync(f, Buffer.from('0123456789'));
    assert.strictEqual(Buffer.from(await readHead(f, 4)).toString(), '0123');
    assert.strictEqual(Buffer.from(await readHead(f, 64 * 1024)).toString(), '0123456789');
    fs.writeFileSync(f, '');
    assert.strictEqual((await readHead(f, 16)).length, 0);
  });

  it('refuses a FIFO at once instead of waiting for a writer', async function () {
    this.timeout(5000); // a blocking open would hang here, not fail
    const fifo = path.join(dir, 'model.json');
    execFileSync('mkfifo', [fifo]);
    const t0 = Date.now();
    await assert.rejects(readHead(fifo, 64 * 1024), new RegExp(`^Error: cannot read ${fifo}: it is a FIFO, not a regular file$`));
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  });

  it('refuses directories and devices, and names a missing file', async () => {
    const sub = path.join(dir, 'x.h5');
    fs.mkdirSync(sub);
    await assert.rejects(readHead(sub, 8), /x\.h5: it is a directory, not a regular file/);
    await assert.rejects(readHead('/dev/zero', 8), /\/dev\/zero: it is a character device, not a regular file/);
    await assert.rejects(readHead(path.join(dir, 'gone.onnx'), 8), /gone\.onnx: no such file/);
  });
});
