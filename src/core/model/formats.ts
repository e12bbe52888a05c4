// The model file kinds, listed once: `loadModel`'s dispatch error, the CLI help, the extension's file
// discovery and Open Model filters, and (by a drift test) package.json's static menus and activation
// events come from this table. No imports: the extension bundles it.

export interface ModelFileKind {
  /** An exact file name (`model.json`) or an extension with its dot (`.onnx`). */
  pattern: string;
  /** What it is, for help texts. */
  what: string;
  /** A quick check of the file's first bytes (up to 64 KiB): is this really such a model? */
  looksLike(head: Uint8Array): boolean;
}

const HDF5_MAGIC = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
const startsWith = (head: Uint8Array, bytes: number[]) => bytes.every((b, i) => head[i] === b);
const isHdf5 = (head: Uint8Array) => startsWith(head, HDF5_MAGIC);

export const MODEL_FILE_KINDS: readonly ModelFileKind[] = [
  { pattern: 'model.json', what: 'TF.js model (layers model or graph model, e.g. a converted SavedModel)', looksLike: (h) => new TextDecoder().decode(h).includes('"modelTopology"') },
  { pattern: '.keras', what: 'Keras 3 file (zip of config.json + model.weights.h5)', looksLike: (h) => startsWith(h, [0x50, 0x4b]) },
  { pattern: '.h5', what: 'Keras HDF5 file', looksLike: isHdf5 },
  { pattern: '.hdf5', what: 'Keras HDF5 file', looksLike: isHdf5 },
  // ONNX has no magic bytes to check.
  { pattern: '.onnx', what: 'ONNX model (e.g. a PyTorch export)', looksLike: (h) => h.length > 0 },
  // A u64 header length, then the JSON header; the config.json beside it says what the network is.
  { pattern: '.safetensors', what: 'Hugging Face / timm ViT or DeiT checkpoint (model.safetensors with its config.json)', looksLike: (h) => h.length > 8 && h[8] === 0x7b },
];

const isExtension = (k: ModelFileKind) => k.pattern.startsWith('.');

function baseName(file: string): string {
  return file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1);
}

/** The kind a file name is, or undefined. */
export function modelFileKind(file: string): ModelFileKind | undefined {
  const name = baseName(file).toLowerCase();
  return MODEL_FILE_KINDS.find((k) => (isExtension(k) ? name.endsWith(k.pattern) && name.length > k.pattern.length : name === k.pattern));
}

/** `model.json, .keras, .h5, .hdf5 or .onnx`. */
export function modelFileList(): string {
  const p = MODEL_FILE_KINDS.map((k) => k.pattern);
  return `${p.slice(0, -1).join(', ')} or ${p[p.length - 1]}`;
}

/** A glob matching every model file: `** /{model.json,*.keras,...}` (without the space). */
export function modelFileGlob(): string {
  return `**/{${MODEL_FILE_KINDS.map((k) => (isExtension(k) ? `*${k.pattern}` : k.pattern)).join(',')}}`;
}

/** The extensions an Open dialog filters on (`json`, `keras`, ...). */
export function modelFileExtensions(): string[] {
  return [...new Set(MODEL_FILE_KINDS.map((k) => (isExtension(k) ? k.pattern : k.pattern.slice(k.pattern.lastIndexOf('.'))).slice(1)))];
}

/** The `when` clause of a menu entry shown on model files (package.json's explorer/context). */
export function modelFileWhenClause(): string {
  return MODEL_FILE_KINDS.map((k) => (isExtension(k) ? `resourceExtname == ${k.pattern}` : `resourceFilename == ${k.pattern}`)).join(' || ');
}

/** The activation events that start the extension in a workspace holding model files (package.json). */
export function modelFileActivationEvents(): string[] {
  return MODEL_FILE_KINDS.map((k) => `workspaceContains:**/${isExtension(k) ? `*${k.pattern}` : k.pattern}`);
}

/** Lines for a help text: `  model.json  TF.js model (...)`. */
export function modelFilesHelp(indent = '  '): string {
  const w = Math.max(...MODEL_FILE_KINDS.map((k) => k.pattern.length));
  return MODEL_FILE_KINDS.map((k) => `${indent}${k.pattern.padEnd(w)}  ${k.what}`).join('\n');
}

/** A regex source matching a quoted path to a model file in source code (capture 1: the path). */
export function modelPathInQuotesSource(): string {
  const alts = MODEL_FILE_KINDS.map((k) => k.pattern.replace(/\./g, '\\.')).join('|');
  return `["'\`]([^"'\`\n]*?(?:${alts}))["'\`]`;
}
