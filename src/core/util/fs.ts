import * as fs from 'fs';
import * as path from 'path';
import { fsProblem } from './errno';

let counter = 0;

/**
 * Writes `data` to `file` atomically: the bytes go to a temporary file in the same directory, which is then
 * renamed over `file`, so readers see the old file or the complete new one, never a partial write.
 * Creates missing parent directories. Errors name the file.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${counter++}.tmp`);
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // the write error below is the one to report
    }
    throw new Error(`cannot write ${file}: ${fsProblem(e)}`);
  }
}

/** `cannot read FILE: why`, in words; keeps the system error's `code` (ENOENT, ...). */
export function readError(file: string, e: unknown): NodeJS.ErrnoException {
  return Object.assign(new Error(`cannot read ${file}: ${fsProblem(e)}`), { code: (e as NodeJS.ErrnoException).code });
}

/** What a non-regular file is, in words. */
function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** An open regular file: its descriptor and its size and modification time when it was opened. */
export interface RegularFile {
  fd: number;
  size: number;
  mtimeMs: number;
}

/**
 * Opens `file` for reading only if it is a regular file. The open does not block (O_NONBLOCK: a named pipe opens at
 * once) and the descriptor is checked with fstat before a byte is read, so a FIFO, a device (a symlink to /dev/zero)
 * or a folder is refused with an error naming the file and what it is, instead of hanging or reading without end.
 * `noFollow` refuses a symlink as the last path component (for paths already resolved with realpath); `name` is the
 * path errors show (default `file`).
 */
export function openRegular(file: string, noFollow = false, name = file): RegularFile {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | (noFollow ? fs.constants.O_NOFOLLOW : 0));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw new Error(`cannot read ${name}: it was replaced by a symbolic link while loading`);
    throw readError(name, e);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new Error(`cannot read ${name}: it is ${kindOf(st)}, not a regular file`);
    return { fd, size: st.size, mtimeMs: st.mtimeMs };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/**
 * Reads exactly `length` bytes at `position` of an open file into `buf` at `at` (a new buffer by default) and returns
 * `buf`; an early end (the file shrank) is an error naming the file.
 */
export function readAt(fd: number, file: string, position: number, length: number, buf: Uint8Array = Buffer.allocUnsafe(length), at = 0): Uint8Array {
  let got = 0;
  while (got < length) {
    const n = fs.readSync(fd, buf, at + got, length - got, position + got);
    if (n === 0) throw new Error(`cannot read ${file}: it ends at byte ${position + got}, before byte ${position + length} (did it shrink while loading?)`);
    got += n;
  }
  return buf;
}

/**
 * Reads a whole regular file (see {@link openRegular}): at most the size it had when opened, refused before
 * anything is allocated when that is over `maxBytes`.
 */
export function readRegular(file: string, maxBytes = Infinity): Buffer {
  const f = openRegular(file);
  try {
    if (f.size > maxBytes) throw new Error(`cannot read ${file}: it is ${f.size} bytes, over the ${maxBytes}-byte limit`);
    return readAt(f.fd, file, 0, f.size) as Buffer;
  } finally {
    fs.closeSync(f.fd);
  }
}

/** Parses JSON text read from `file`; the error names the file. */
export function parseJson(text: string, file: string): any {
  try { return JSON.parse(text); } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Reads (a regular file only, see {@link readRegular}) and parses a JSON file the project wrote; errors name the file. */
export function readJson(file: string): any {
  return parseJson(readRegular(file).toString('utf8'), file);
}
