// The examples job's on-disk index: per image and per tapped layer, each channel's max and mean over space
// (Float32), so a query on another unit of an indexed layer reads the index, not the images.
//
// One folder per (model content, preprocessing, input size): `<out>/index/<key>/`, with `meta.json` saying
// what the key stands for. Per layer three files:
//   <layer>.bin        records, append-only: per image C float32 maxima then C float32 means
//   <layer>.keys       one JSON line per record: {"k": "<relative path>|<size>|<mtime ms>"}, plus "e": why the
//                      image could not be read (its record is NaN)
//   <layer>.head.json  {layer, channels, records, keysBytes}: how much of the two files is committed
// Appending writes the data first, then renames a new header over the old one: a kill leaves at most an
// uncommitted tail, which the next append truncates, and readers never look past the header.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { readJson, writeFileAtomic } from '../util/fs';
import { safeName } from './output';

export const INDEX_VERSION = 1;

/** What makes two runs' statistics interchangeable. */
export interface IndexIdentity {
  /** Content hash of the model (hashModel). */
  model: string;
  preprocess: { scale: number[]; offset: number[] };
  /** Model input [height, width, channels]: every image is centre-cropped and resized to it. */
  input: [number, number, number];
}

/** The index folder of an identity under `root` (created with its meta.json). */
export function indexDir(root: string, id: IndexIdentity): string {
  const meta = { version: INDEX_VERSION, ...id, fit: 'centre crop to the input aspect, area/bilinear resize, Rec. 601 luma for gray' };
  const key = crypto.createHash('sha256').update(JSON.stringify(meta)).digest('hex').slice(0, 16);
  const dir = path.join(root, key);
  const metaFile = path.join(dir, 'meta.json');
  if (!fs.existsSync(metaFile)) writeFileAtomic(metaFile, JSON.stringify(meta, null, 2) + '\n');
  return dir;
}

/** The identity of an image file as the index keys it. */
export function imageKey(rel: string, stat: { size: number; mtimeMs: number }): string {
  return `${rel}|${stat.size}|${stat.mtimeMs}`;
}

export interface IndexRecord {
  key: string;
  /** C maxima over space; null: the image could not be read (`error` says why). */
  max: Float32Array | null;
  mean: Float32Array | null;
  error?: string;
}

interface Header {
  layer: string;
  channels: number;
  records: number;
  keysBytes: number;
}

/** The statistics of one layer over the indexed images. */
export class LayerIndex {
  /** Record number of each committed key (the latest record when a key repeats). */
  readonly lookup = new Map<string, number>();
  /** Why each unreadable image (by record number) was skipped. */
  readonly errors = new Map<number, string>();
  private header: Header;
  private readonly bin: string;
  private readonly keysFile: string;
  private readonly headFile: string;

  constructor(dir: string, readonly layer: string, readonly channels: number) {
    // The name made safe, plus a hash: `a/b` and `a_b` stay apart.
    const stem = path.join(dir, `${safeName(layer)}-${crypto.createHash('sha256').update(layer).digest('hex').slice(0, 8)}`);
    this.bin = `${stem}.bin`;
    this.keysFile = `${stem}.keys`;
    this.headFile = `${stem}.head.json`;
    this.header = { layer, channels, records: 0, keysBytes: 0 };
    if (!fs.existsSync(this.headFile)) return;
    const h = readJson(this.headFile) as Header;
    if (h.layer !== layer || h.channels !== channels || !Number.isInteger(h.records) || !Number.isInteger(h.keysBytes)) {
      throw new Error(`examples index ${this.headFile} does not describe layer "${layer}" with ${channels} channels: delete the folder ${dir} to rebuild it`);
    }
    const need = h.records * this.recordBytes;
    if (!fs.existsSync(this.bin) || fs.statSync(this.bin).size < need || !fs.existsSync(this.keysFile) || fs.statSync(this.keysFile).size < h.keysBytes) {
      throw new Error(`examples index ${this.bin} is shorter than its header says: delete the folder ${dir} to rebuild it`);
    }
    const fd = fs.openSync(this.keysFile, 'r');
    const buf = Buffer.alloc(h.keysBytes);
    try { fs.readSync(fd, buf, 0, h.keysBytes, 0); } finally { fs.closeSync(fd); }
    const lines = buf.toString('utf8').split('\n').slice(0, h.records);
    if (lines.length !== h.records) throw new Error(`examples index ${this.keysFile} has ${lines.length} keys, its header ${h.records}: delete the folder ${dir} to rebuild it`);
    lines.forEach((line, i) => {
      const rec = JSON.parse(line) as { k: string; e?: string };
      this.lookup.set(rec.k, i);
      if (rec.e !== undefined) this.errors.set(i, rec.e);
    });
    this.header = h;
  }

  get records(): number {
    return this.header.records;
  }

  private get recordBytes(): number {
    return 8 * this.channels;
  }

  /** Appends records and commits them (header renamed last). */
  append(records: IndexRecord[]): void {
    if (!records.length) return;
    const C = this.channels;
    const data = new Float32Array(records.length * 2 * C);
    let keys = '';
    records.forEach((r, i) => {
      if (r.max && r.mean) {
        data.set(r.max, i * 2 * C);
        data.set(r.mean, i * 2 * C + C);
      } else data.fill(NaN, i * 2 * C, (i + 1) * 2 * C);
      keys += JSON.stringify(r.error !== undefined ? { k: r.key, e: r.error } : { k: r.key }) + '\n';
    });
    const h = this.header;
    const keyBytes = Buffer.from(keys, 'utf8');
    appendAt(this.bin, h.records * this.recordBytes, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    appendAt(this.keysFile, h.keysBytes, keyBytes);
    const next = { ...h, records: h.records + records.length, keysBytes: h.keysBytes + keyBytes.length };
    writeFileAtomic(this.headFile, JSON.stringify(next) + '\n');
    records.forEach((r, i) => {
      this.lookup.set(r.key, h.records + i);
      if (r.error !== undefined) this.errors.set(h.records + i, r.error);
    });
    this.header = next;
  }

  /**
   * Streams the committed records in order, `chunk` at a time (bounded memory): `fn(record, max, mean)` with
   * views that are valid only during the call.
   */
  scan(fn: (record: number, max: Float32Array, mean: Float32Array) => void, chunk = 1024): void {
    const C = this.channels;
    const n = this.header.records;
    if (!n) return;
    const fd = fs.openSync(this.bin, 'r');
    try {
      const buf = new Float32Array(Math.min(chunk, n) * 2 * C);
      const bytes = new Uint8Array(buf.buffer);
      for (let start = 0; start < n; start += chunk) {
        const count = Math.min(chunk, n - start);
        const want = count * this.recordBytes;
        let got = 0;
        while (got < want) {
          const r = fs.readSync(fd, bytes, got, want - got, start * this.recordBytes + got);
          if (r === 0) throw new Error(`examples index ${this.bin} ended early at record ${start}`);
          got += r;
        }
        for (let i = 0; i < count; i++) fn(start + i, buf.subarray(i * 2 * C, i * 2 * C + C), buf.subarray(i * 2 * C + C, (i + 1) * 2 * C));
      }
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** Writes `data` at byte `offset` of `file`, dropping whatever followed (an uncommitted tail). */
function appendAt(file: string, offset: number, data: Uint8Array): void {
  const fd = fs.openSync(file, fs.existsSync(file) ? 'r+' : 'w+');
  try {
    fs.ftruncateSync(fd, offset);
    let done = 0;
    while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done, offset + done);
  } catch (e) {
    throw new Error(`cannot append to the examples index ${file}: ${(e as Error).message}`);
  } finally {
    fs.closeSync(fd);
  }
}
