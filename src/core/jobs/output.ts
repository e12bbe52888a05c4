// Writing a job's files: every file atomically (a reader never sees half a PNG), names made safe.
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../util/fs';

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

/** Writes `files` (relative path -> bytes or text) under `outDir`, creating folders as needed. */
export function writeFiles(outDir: string, files: Record<string, Buffer | string>): void {
  fs.mkdirSync(outDir, { recursive: true });
  for (const [rel, data] of Object.entries(files)) {
    const full = path.join(outDir, rel);
    if (path.relative(outDir, full).startsWith('..')) throw new Error(`refusing to write ${rel} outside ${outDir}`);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    writeFileAtomic(full, data);
  }
}
