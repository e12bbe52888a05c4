// safetensors files (Hugging Face's weight format), read directly: an 8-byte little-endian header length, a JSON
// header mapping each tensor name to {dtype, shape, data_offsets}, then the raw little-endian data. Nothing in the
// file runs. The whole header is checked against the file (every size and offset, no overlaps) before any tensor is
// read, and tensors are read one at a time from the open file (never the whole file at once).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { FolderFile, ModelFolder } from '../folder';
import { openRegular, readAt } from '../../util/fs';

/** Bytes per element of every safetensors dtype (so sizes can be checked even for dtypes that are not read). */
const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
};

/** The dtypes read as float32 (converted where stored narrower or wider). */
const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);

/** A header larger than this is not a weight file (real ones: tens of KB). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Byte offsets into the data section (after the header). */
  begin: number;
  end: number;
}

/** An open safetensors file: its checked header; tensors are read on demand. Call close() when done. */
export class SafetensorsFile {
  readonly entries = new Map<string, TensorEntry>();
  readonly metadata: Record<string, string>;
  private f: FolderFile | null;
  private readonly dataStart: number;

  private constructor(readonly file: string, f: FolderFile, dataStart: number, entries: TensorEntry[], metadata: Record<string, string>) {
    this.f = f;
    this.dataStart = dataStart;
    this.metadata = metadata;
    for (const e of entries) this.entries.set(e.name, e);
  }

  /** Opens and checks `file`, a file of `folder`; throws an error that names the file and the problem. */
  static open(file: string, folder: ModelFolder): SafetensorsFile {
    const f = folder.open(path.basename(file), 'safetensors file');
    try {
      const size = f.size;
      const bad = (what: string) => new Error(`${file} is not a valid safetensors file: ${what}`);
      if (size < 8) throw bad(`it has ${size} bytes, fewer than the 8-byte header length`);
      const headerLen = Number(Buffer.from(f.read(0, 8, file)).readBigUInt64LE(0));
      if (headerLen > size - 8) throw bad(`the header length ${headerLen} is longer than the ${size - 8} bytes after it (truncated file?)`);
      if (headerLen > MAX_HEADER_BYTES) throw bad(`the header length ${headerLen} is over the ${MAX_HEADER_BYTES}-byte limit`);
      const text = Buffer.from(f.read(8, headerLen, file)).toString('utf8');
      let header: unknown;
      try { header = JSON.parse(text); } catch (e) {
        throw bad(`the header is not JSON (${(e as Error).message})`);
      }
      if (!header || typeof header !== 'object' || Array.isArray(header)) throw bad('the header is not a JSON object');
      const twice = repeatedKey(text);
      if (twice !== undefined) throw bad(`tensor "${twice}" is listed twice in the header; tensor names must be unique`);
      const dataStart = 8 + headerLen;
      const entries = parseHeader(header as Record<string, unknown>, size - dataStart, bad);
      const meta = (header as Record<string, unknown>).__metadata__;
      const metadata = meta && typeof meta === 'object' ? (meta as Record<string, string>) : {};
      return new SafetensorsFile(file, f, dataStart, entries, metadata);
    } catch (e) {
      f.close();
      throw e;
    }
  }

  has(name: string): boolean { return this.entries.has(name); }

  /** The shape of a tensor, or undefined. */
  shape(name: string): number[] | undefined { return this.entries.get(name)?.shape; }

  /** Reads one float tensor as float32 (F16, BF16 and F64 converted). */
  readFloat32(name: string): Float32Array {
    const e = this.entries.get(name);
    if (!e) throw new Error(`${this.file}: no tensor "${name}"`);
    if (!FLOAT_DTYPES.has(e.dtype)) throw new Error(`${this.file}: tensor "${name}" has dtype ${e.dtype}; only F32, F16, BF16 and F64 weights can be read`);
    if (this.f === null) throw new Error(`${this.file}: read after close`);
    return toFloat32(this.f.read(this.dataStart + e.begin, e.end - e.begin, `${this.file}: tensor "${name}"`), e.dtype);
  }

  close(): void {
    this.f?.close();
    this.f = null;
  }
}

/**
 * The first key that appears twice in the top-level object of `text` (valid JSON): JSON.parse keeps the last one
 * silently, so a header listing a tensor twice would load whichever came last.
 */
export function repeatedKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && /^\s*:/.test(text.slice(j + 1, j + 64))) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
      }
      i = j;
    } else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
  }
  return undefined;
}

function parseHeader(header: Record<string, unknown>, dataBytes: number, bad: (what: string) => Error): TensorEntry[] {
  const entries: TensorEntry[] = [];
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const where = `tensor "${name}"`;
    if (!v || typeof v !== 'object') throw bad(`${where} has no {dtype, shape, data_offsets}`);
    const { dtype, shape, data_offsets: off } = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) throw bad(dtype === undefined ? `${where} has no dtype` : `${where} has unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(`${where} has a bad shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(off === undefined ? `${where} has no data_offsets` : `${where} has bad data_offsets ${JSON.stringify(off)}`);
    const [begin, end] = off as number[];
    if (end < begin) throw bad(`${where} ends (${end}) before it begins (${begin})`);
    if (end > dataBytes) throw bad(`${where} ends at data byte ${end}, past the end of the file (${dataBytes} data bytes; truncated?)`);
    const need = (shape as number[]).reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
    if (end - begin !== need) throw bad(`${where} (${dtype} ${JSON.stringify(shape)}) needs ${need} bytes but its data_offsets span ${end - begin}`);
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < sorted.length; i++) {
    const [p, q] = [sorted[i - 1], sorted[i]];
    if (q.begin < p.end) throw bad(`tensors "${p.name}" [${p.begin}, ${p.end}) and "${q.name}" [${q.begin}, ${q.end}) overlap`);
  }
  return entries;
}

const LITTLE_ENDIAN = os.endianness() === 'LE';

/** Raw little-endian bytes of `dtype` (a float type) as float32. */
export function toFloat32(bytes: Uint8Array, dtype: string): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32': {
      if (LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      const out = new Float32Array(bytes.byteLength / 4);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    }
    case 'F64': {
      const out = new Float32Array(bytes.byteLength / 8);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(8 * i, true);
      return out;
    }
    case 'BF16': {
      // bfloat16 is the high half of a float32.
      const out = new Float32Array(bytes.byteLength / 2);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < out.length; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      return out;
    }
    case 'F16': {
      const out = new Float32Array(bytes.byteLength / 2);
      for (let i = 0; i < out.length; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
      return out;
    }
    default:
      throw new Error(`cannot convert dtype ${dtype} to float32`);
  }
}

/** IEEE 754 binary16 bits to a number (subnormals, infinities and NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * Files that hold a Python pickle (`pytorch_model.bin`, `.pt`, `.pth`, `.ckpt`): loading one runs code it names,
 * so they are refused, with how to convert. Null where `file` is not one.
 */
export function pickleRefusal(file: string): string | null {
  const lower = file.toLowerCase();
  const byName = /\.(pt|pth|ckpt)$/.test(lower) || /(^|[\\/])pytorch_model(-\d+-of-\d+)?\.bin$/.test(lower);
  let byMagic = false;
  if (!byName && lower.endsWith('.bin')) {
    // torch.save writes a zip (PK\x03\x04) or, before PyTorch 1.6, a bare pickle (protocol byte 0x80).
    try {
      const f = openRegular(file);
      let b: Buffer;
      try { b = Buffer.from(readAt(f.fd, file, 0, Math.min(4, f.size))); } finally { fs.closeSync(f.fd); }
      byMagic = b[0] === 0x80 || b.equals(Buffer.from([0x50, 0x4b, 0x03, 0x04]));
    } catch { /* unreadable: not recognised here; the caller reports the file */ }
  }
  if (!byName && !byMagic) return null;
  return `${file} is a PyTorch pickle file, which is refused: unpickling can run arbitrary code. Convert it to safetensors ` +
    'in Python, e.g. `from safetensors.torch import save_file; save_file(torch.load(path, weights_only=True), "model.safetensors")`, ' +
    'or with transformers: `model.save_pretrained(folder, safe_serialization=True)`; then open the folder holding config.json ' +
    'and model.safetensors.';
}
