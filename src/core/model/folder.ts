// The one way importers read files: every file a model names (weight shards, external data, configs, labels, the
// sidecar) is resolved inside the model's folder by its real path (symbolic links followed, so neither `..` nor a link
// leaves the folder), opened only if it is a regular file (never a FIFO or a device), and read only in the byte ranges
// needed, each charged to one model byte budget before it is allocated. Byte ranges claimed for tensors may not
// overlap. The folder records every file it read (size, modification time, a hash of the bytes read): the model's
// identity for result caches and for noticing that its files changed.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { openRegular, parseJson, readAt, readError } from '../util/fs';
import { LIMITS, limitValue, overLimit } from './limits';

/** A file a model was loaded from: its path inside the model folder, its size and mtime when read, and a hash of the bytes read. */
export interface ModelFile {
  path: string;
  size: number;
  mtimeMs: number;
  sha256: string;
}

interface Claim {
  begin: number;
  end: number;
  owner: string;
}

interface FileRecord {
  path: string;
  size: number;
  mtimeMs: number;
  hash: crypto.Hash;
}

/** True when `p` is `root` or inside it. */
function inside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/** A file of the folder, open for reading byte ranges. */
export class FolderFile {
  constructor(
    private readonly folder: ModelFolder,
    /** The path inside the model folder (as the model names it), for messages. */
    readonly path: string,
    /** The real path (symbolic links resolved): claims are kept per real file. */
    readonly real: string,
    private readonly fd: number,
    readonly size: number,
    private readonly record: FileRecord,
  ) {}

  /**
   * Reads `length` bytes at `offset`, after charging them to the model byte budget; or into `buf` at `at`, a buffer
   * from {@link ModelFolder.alloc} (already charged). `what` says what the bytes are, for errors.
   */
  read(offset: number, length: number, what: string, buf?: Uint8Array, at = 0): Uint8Array {
    if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length <= this.size)) {
      throw new Error(`${what}: the byte range ${offset}+${length} is outside ${this.path} (${this.size} bytes)`);
    }
    if (!buf) this.folder.charge(length, this.path);
    const out = readAt(this.fd, this.path, offset, length, buf, at);
    this.record.hash.update(`${offset}:${length};`);
    this.record.hash.update(out.subarray(at, at + length));
    return buf ? out : out.subarray(0, length);
  }

  /** Claims bytes [begin, end) for the tensor `owner`: each byte of a file belongs to at most one tensor. */
  claim(begin: number, end: number, owner: string): void {
    this.folder.claim(this, begin, end, owner);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/**
 * The folder of one model file. Paths are relative to the folder; files outside it are refused, except in a Hugging
 * Face hub cache snapshot (`<repo>/snapshots/<revision>/`), whose files are links into the repository's `blobs/`.
 * Errors name the file that asks for a path (`from`, by default the model file), the path and the problem.
 */
/** Largest JSON or text file of a model read (model.json topologies, configs, labels): far above any real one. */
export const MAX_TEXT_BYTES = 64 * 2 ** 20;

export class ModelFolder {
  /** The folder, absolute, as the user named it. */
  readonly dir: string;
  /** The model file, absolute. */
  readonly modelFile: string;
  /** Real paths the folder's files may resolve to. */
  private readonly roots: string[];
  private readonly records = new Map<string, FileRecord>();
  private readonly claims = new Map<string, Claim[]>();
  private used = 0;

  private constructor(modelFile: string) {
    this.modelFile = path.resolve(modelFile);
    this.dir = path.dirname(this.modelFile);
    let real: string;
    try { real = fs.realpathSync(this.dir); } catch (e) { throw readError(this.dir, e); }
    this.roots = [real];
    const repo = path.dirname(path.dirname(real));
    if (path.basename(path.dirname(real)) === 'snapshots' && fs.existsSync(path.join(repo, 'blobs'))) {
      this.roots.push(fs.realpathSync(path.join(repo, 'blobs')));
    }
  }

  /** The folder of `modelFile`. */
  static of(modelFile: string): ModelFolder {
    return new ModelFolder(modelFile);
  }

  /** The path of `rel` inside the folder, by its text only (`..`, absolute paths and URLs refused). */
  private place(rel: string, role: string, from: string): string {
    if (typeof rel !== 'string' || rel.length === 0 || rel.includes('\0')) throw new Error(`${from}: ${role} path ${JSON.stringify(rel)} is empty or not a file name`);
    const full = path.resolve(this.dir, rel);
    if (/^[a-z][a-z0-9+.-]*:/i.test(rel) || path.isAbsolute(rel)) {
      throw new Error(`${from}: ${role} path "${rel}" is not a relative path inside the model folder ${this.dir}`);
    }
    if (full === this.dir || !inside(this.dir, full)) throw new Error(`${from}: ${role} path "${rel}" leaves the model folder ${this.dir}`);
    return full;
  }

  /** True when `rel` names something in the folder (an optional file); reading it still checks where it leads. */
  exists(rel: string): boolean {
    return fs.existsSync(path.join(this.dir, rel));
  }

  /**
   * Opens `rel`, the `role` file (`weight shard`, `external data`, ...) that `from` names: the real path must stay in
   * the folder and be a regular file. Close the result.
   */
  open(rel: string, role: string, from = this.modelFile): FolderFile {
    const full = this.place(rel, role, from);
    let real: string;
    try { real = fs.realpathSync(full); } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`missing ${role}: ${full} (listed in ${from})`);
      throw new Error(`${from}: ${readError(full, e).message}`);
    }
    if (!this.roots.some((r) => inside(r, real))) {
      throw new Error(`${from}: ${role} "${rel}" is a symbolic link (or lies under one) to ${real}, outside the model folder ${this.dir}; it is not read`);
    }
    const f = openRegular(real, true, full);
    let rec = this.records.get(full);
    if (!rec || rec.size !== f.size || rec.mtimeMs !== f.mtimeMs) {
      rec = { path: full, size: f.size, mtimeMs: f.mtimeMs, hash: crypto.createHash('sha256') };
      this.records.set(full, rec);
    }
    return new FolderFile(this, full, real, f.fd, f.size, rec);
  }

  /** Reads the whole of `rel` (see {@link open}). */
  readAll(rel: string, role: string, from = this.modelFile): Buffer {
    const f = this.open(rel, role, from);
    try {
      return f.read(0, f.size, `${from}: ${role}`) as Buffer;
    } finally {
      f.close();
    }
  }

  /** Reads a text file of the folder (JSON, labels), refused unread when larger than MAX_TEXT_BYTES. */
  readText(rel: string, role: string, from = this.modelFile): string {
    const f = this.open(rel, role, from);
    try {
      if (f.size > MAX_TEXT_BYTES) {
        throw new Error(`${path.join(this.dir, rel)}: a ${role} of ${f.size} bytes is larger than the ${MAX_TEXT_BYTES / 2 ** 20} MiB a JSON or text file of a model may be; it is not read`);
      }
      return (f.read(0, f.size, `${from}: ${role}`) as Buffer).toString('utf8');
    } finally {
      f.close();
    }
  }

  /** Reads and parses a JSON file of the folder (see {@link readText}). */
  readJson(rel: string, role: string, from = this.modelFile): any {
    return parseJson(this.readText(rel, role, from), path.join(this.dir, rel));
  }

  /** Charges `bytes` to the model byte budget, refusing them (before they are allocated) when it has less left. */
  charge(bytes: number, what: string): void {
    if (this.used + bytes > limitValue(LIMITS.modelBytes)) {
      throw new Error(`${what}: the model needs ${this.used + bytes} bytes in memory, ${overLimit(LIMITS.modelBytes)}`);
    }
    this.used += bytes;
  }

  /** A buffer of `bytes`, charged to the model byte budget before it is allocated. */
  alloc(bytes: number, what: string): Buffer {
    this.charge(bytes, what);
    return Buffer.alloc(bytes);
  }

  /** See {@link FolderFile.claim}. */
  claim(file: FolderFile, begin: number, end: number, owner: string): void {
    if (end <= begin) return;
    let list = this.claims.get(file.real);
    if (!list) this.claims.set(file.real, (list = []));
    // `list` is sorted by begin and free of overlaps: only the neighbours of the insertion point can overlap.
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].begin < begin) lo = mid + 1;
      else hi = mid;
    }
    for (const other of [list[lo - 1], list[lo]]) {
      if (other && other.begin < end && begin < other.end) {
        throw new Error(`${file.path}: bytes ${Math.max(begin, other.begin)}-${Math.min(end, other.end)} belong to both ${other.owner} and ${owner}; each byte of a weight file may belong to one tensor only`);
      }
    }
    list.splice(lo, 0, { begin, end, owner });
  }

  /** Every file read so far, in the order first read. */
  files(): ModelFile[] {
    return [...this.records.values()].map((r) => ({ path: r.path, size: r.size, mtimeMs: r.mtimeMs, sha256: r.hash.copy().digest('hex') }));
  }
}

/** The files of `files` whose size or modification time differs now (or that are gone). */
export function changedFiles(files: readonly ModelFile[]): string[] {
  return files.filter((f) => {
    try {
      const st = fs.statSync(f.path);
      return st.size !== f.size || st.mtimeMs !== f.mtimeMs;
    } catch {
      return true;
    }
  }).map((f) => f.path);
}
