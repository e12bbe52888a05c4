/**
 * Custom kernels that are plain loops over float32 arrays, registered on 'wasm' and 'cpu' from one definition.
 * On wasm the loop reads and writes the heap in place (views taken after the output's allocation: growing the
 * heap detaches older ones) and may run in the oneDNN addon when that is on; on cpu it runs in JavaScript over the
 * backend's own typed arrays. No copies either way.
 */
import { getKernel, KernelFunc, NamedAttrMap, registerKernel, TensorInfo, unregisterKernel, util } from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type NativeLoops, nativeLoops } from './onednn';

export interface LoopPlan {
  /** The inputs the loop reads, in this order. */
  inputs: TensorInfo[];
  /** The float32 output's shape. */
  shape: number[];
  /** Fills `out` from `ins`; runs the addon's loop when `native` is given (wasm with the addon on), else JavaScript. */
  run(ins: Float32Array[], out: Float32Array, native: NativeLoops | null): void;
}

/** The kernel's inputs and attributes -> what to run (validating them, with errors naming the kernel). */
export type Planner = (inputs: Record<string, TensorInfo | undefined>, attrs: NamedAttrMap) => LoopPlan;

/** Registers `kernelName` on wasm and cpu, replacing a kernel of that name already there (TF.js's own). */
export function registerLoopKernel(kernelName: string, plan: Planner): void {
  const wasm: KernelFunc = ({ inputs, backend, attrs }) => {
    const b = backend as BackendWasm;
    const p = plan(inputs, attrs ?? {});
    const out = b.makeOutput(p.shape, 'float32');
    const views = [...p.inputs, out].map((t) => b.typedArrayFromHeap(t) as Float32Array);
    p.run(views.slice(0, -1), views[views.length - 1], nativeLoops());
    return out;
  };
  const cpu: KernelFunc = ({ inputs, backend, attrs }) => {
    const b = backend as MathBackendCPU;
    const p = plan(inputs, attrs ?? {});
    const out = new Float32Array(util.sizeFromShape(p.shape));
    p.run(p.inputs.map((t) => b.data.get(t.dataId).values as Float32Array), out, null);
    return b.makeTensorInfo(p.shape, 'float32', out);
  };
  for (const [backendName, kernelFunc] of [['wasm', wasm], ['cpu', cpu]] as const) {
    if (getKernel(kernelName, backendName)) unregisterKernel(kernelName, backendName);
    registerKernel({ kernelName, backendName, kernelFunc });
  }
}
