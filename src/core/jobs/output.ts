// Writing a job's files: every file atomically (a reader never sees half a PNG), names made safe.
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../util/fs';
import { fsProblem } from '../util/errno';

/** A name safe in every file system: letters, digits, `_`, `.` and `-`. */
export function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^_+|_+$/g, '');
}

/** Hands out file stems, numbering repeats: `a`, `a-2`, `a-3`. */
export class Stems {
  private readonly used = new Set<string>();

  take(stem: string): string {
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
 * Checks the output folder and creates it, before a job runs (so a bad --out fails at once, not after the work):
 * refuses an empty path, a path under /proc, /sys or /dev (where Node's recursive mkdir never returns), and a file
 * where a folder is expected; creates the missing folders one by one; checks the folder is writable. Errors name
 * the folder and say the problem in words. Returns the absolute path.
 */
export function prepareOutDir(outDir: string, what = '--out'): string {
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
      if (code !== 'ENOENT' && code !== 'ENOTDIR') fail(`cannot use ${existing}: ${fsProblem(e)}`);
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
  let cur = existing;
  for (const part of missing) {
    cur = path.join(cur, part);
    try { fs.mkdirSync(cur); } catch (e) { fail(`cannot create ${cur}: ${fsProblem(e)}`); }
  }
  try { fs.accessSync(dir, fs.constants.W_OK); } catch (e) { fail(`cannot write there: ${fsProblem(e)}`); }
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
