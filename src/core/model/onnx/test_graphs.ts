// Small ONNX graphs written by tests (protobufjs encoder).
import * as fs from 'fs';
import * as path from 'path';
import { encodeModel } from './proto';

export const FLOAT = 1;
const INT64 = 7;

export function rand(n: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

export type Attr = Record<string, unknown>;
export const ints = (name: string, v: number[]): Attr => ({ name, type: 7, ints: v });
export const int = (name: string, v: number): Attr => ({ name, type: 2, i: v });
export const node = (opType: string, input: string[], output: string[], attribute: Attr[] = [], domain = '') =>
  ({ opType, input, output, attribute, name: `/${output[0]}/${opType}`, domain });
export const floatInit = (name: string, dims: number[], data: number[]) => ({ name, dims, dataType: FLOAT, floatData: data });
export const intInit = (name: string, data: number[]) => ({ name, dims: [data.length], dataType: INT64, int64Data: data });

/** `batch`: the input's batch dimension, a name (dynamic) or a fixed size. */
export function writeModel(dir: string, file: string, nodes: object[], inits: object[], chw: number[], outputs: string[], opset = 13,
  batch: string | number = 'batch'): string {
  const bytes = encodeModel({
    irVersion: 7,
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: 'g',
      node: nodes,
      initializer: inits,
      input: [{ name: 'input', type: { tensorType: { elemType: FLOAT, shape: { dim: [typeof batch === 'number' ? { dimValue: batch } : { dimParam: batch }, ...chw.map((d) => ({ dimValue: d }))] } } } }],
      output: outputs.map((name) => ({ name })),
    },
  });
  const f = path.join(dir, file);
  fs.writeFileSync(f, bytes);
  return f;
}

export const float = (name: string, v: number): Attr => ({ name, type: 1, f: v });
