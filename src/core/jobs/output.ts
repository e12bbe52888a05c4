// Writing a job's files: every file atomically (a reader never sees half a PNG), names made safe.
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../util/fs';
import { fsProblem } from '../util/errno';

/** Longest file stem written: file systems allow 255 bytes per name, and a stem gets suffixes (`-d3-fourier.png`). */
const MAX_STEM = 120;

/** `s`, or when longer than a file stem may be, its start and a hash of the whole (so different long names stay different). */
function shorten(s: string): string {
  return s.length <= MAX_STEM ? s : `${s.slice(0, MAX_STEM - 9)}-${createHash('sha256').update(s).digest('hex').slice(0, 8)}`;
}

/** A name safe in every file system: letters, digits, `_`, `.` and `-`, at most MAX_STEM long. */
export function safeName(s: string): string {
  return shorten(s.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^_+|_+$/g, ''));
}

/** Hands out file stems, numbering repeats: `a`, `a-2`, `a-3`. */
export class Stems {
  private readonly used = new Set<string>();

  take(long: string): string {
    const stem = shorten(long);
    let s = stem;
    for (let k = 2; this.used.has(s); k++) s = `${stem}-${k}`;
    this.used.add(s);
    return s;
  }
}

/** JSON with non-finite numbers (an infinite PSNR) as null, two-space indented, one trailing newline. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n';
}

/** Kernel file systems whose files are not files: nothing is written under them. */
const VIRTUAL_ROOTS = ['/proc', '/sys', '/dev'];

/**
 * Checks the output folder and (unless `create` is false: a check before a job runs, so a bad --out fails at
 * once and a failed job leaves no folder behind) creates it:
 * refuses an empty path, a path under /proc, /sys or /dev (where Node's recursive mkdir never returns), and a file
 * where a folder is expected; creates the missing folders one by one; checks the folder is writable. Errors name
 * the folder and say the problem in words. Returns the absolute path.
 */
export function prepareOutDir(outDir: string, what = '--out', create = true): string {
  if (outDir.trim() === '') throw new Error(`${what} is empty: give the folder to write to`);
  if (outDir.includes('\0')) throw new Error(`${what} ${JSON.stringify(outDir)} contains a NUL character`);
  const dir = path.resolve(outDir);
  const fail = (why: string): never => { throw new Error(`${what} ${dir}: ${why}`); };
  // The nearest existing ancestor (symbolic links followed) decides where the folder really is.
  const missing: string[] = [];
  let existing = dir;
  for (;;) {
    let st: fs.Stats | undefined;
    try { st = fs.statSync(existing); } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'ENAMETOOLONG') fail(`cannot use ${existing}: ${fsProblem(e)}`);
    }
    if (st) {
      if (!st.isDirectory()) fail(existing === dir ? 'exists and is not a folder' : `${existing} is a file, not a folder`);
      break;
    }
    if (isDanglingLink(existing)) fail(`${existing} is a symbolic link to nothing`);
    missing.unshift(path.basename(existing));
    existing = path.dirname(existing);
  }
  const real = fs.realpathSync(existing);
  const root = VIRTUAL_ROOTS.find((r) => real === r || real.startsWith(`${r}/`));
  if (root) fail(`${root} is a kernel file system, not a place for files`);
  const long = missing.find((m) => Buffer.byteLength(m) > 255);
  if (long) fail(`the folder name "${long.slice(0, 24)}..." is longer than the 255 bytes a file system allows`);
  if (Buffer.byteLength(dir) > 4000) fail('the path is longer than a file system allows');
  let cur = existing;
  for (const part of create ? missing : []) {
    cur = path.join(cur, part);
    try { fs.mkdirSync(cur); } catch (e) { fail(`cannot create ${cur}: ${fsProblem(e)}`); }
  }
  try { fs.accessSync(cur, fs.constants.W_OK); } catch (e) { fail(`cannot write ${create ? 'there' : `in ${cur}`}: ${fsProblem(e)}`); }
  return dir;
}

function isDanglingLink(p: string): boolean {
  try { return fs.lstatSync(p).isSymbolicLink(); } catch { return false; }
}

/** Writes `files` (relative path -> bytes or text) under `outDir`, creating folders as needed. */
export function writeFiles(outDir: string, files: Record<string, Buffer | string>): void {
  prepareOutDir(outDir);
  for (const [rel, data] of Object.entries(files)) {
    const full = path.join(outDir, rel);
    if (path.relative(outDir, full).startsWith('..')) throw new Error(`refusing to write ${rel} outside ${outDir}`);
    prepareOutDir(path.dirname(full), 'output folder');
    writeFileAtomic(full, data);
  }
}
