// Reading the first bytes of a file without ever blocking: the editor sniffs every model file the
// workspace holds, and a FIFO or a device named `model.json` must not hang it (nor a libuv thread).
import { constants, promises as fsp, type Stats } from 'fs';
import { readError } from './fs';

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/**
 * The first `max` bytes of a regular file (fewer if it is shorter). The file is opened with O_NONBLOCK,
 * so opening a FIFO returns at once, and anything but a regular file is refused before a byte is read.
 * Errors name the file and the problem.
 */
export async function readHead(file: string, max: number): Promise<Uint8Array> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw readError(file, e);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error(`cannot read ${file}: it is ${kindOf(st)}, not a regular file`);
    const buf = Buffer.alloc(Math.min(max, st.size));
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.subarray(0, got);
  } finally {
    await fh.close();
  }
}
