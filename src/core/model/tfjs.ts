// TF.js model.json files: layers models run through the Keras interpreter, graph models through ./tfgraph.ts
// (weights as constants, convolutions and dense layers as the shared fused layers), or, where the graph holds an op
// that does not run, tfjs-converter's executor.
import * as tf from '@tensorflow/tfjs-core';
import { inWords } from '../util/errno';
import { checkStructure, KERAS_TOPOLOGY } from './schema';
import * as tfc from '@tensorflow/tfjs-converter';
import { KerasGraph, kerasLayerInfos, type KerasTopology } from './keras';
import { readWeights, groupByLayer, type WeightsManifestGroup } from './weights';
import type { ImportedGraph, LayerInfo, ModelFormat } from './types';
import { interpretGraph } from './tfgraph';
import * as path from 'path';
import type { ModelFolder } from './folder';
import { checkInputSize } from './limits';

/** Shapes of every named output from one forward pass of zeros at batch 1. */
function dryRunShapes(run: (x: tf.Tensor4D, names: string[]) => tf.Tensor[], inputShape: (number | null)[], names: string[], what: string): Map<string, number[]> {
  const [, h, w, c] = inputShape;
  if (inputShape.length !== 4 || !h || !w || !c) {
    throw new Error(`${what}: the input shape ${JSON.stringify(inputShape)} is not an image [batch, height, width, channels] with known sizes`);
  }
  checkInputSize(inputShape, what);
  const shapes = new Map<string, number[]>();
  tf.tidy(() => {
    const outs = run(tf.zeros([1, h, w, c]), names);
    names.forEach((n, i) => shapes.set(n, outs[i].shape));
  });
  return shapes;
}

const SHAPE_ONLY = new Set(['Reshape', 'Flatten', 'Dropout', 'Identity', 'Squeeze']);

/** The pre-softmax logits of a Keras graph: the input of a final softmax, else a linear output layer. */
export function findKerasLogits(graph: KerasGraph): string | null {
  let name: string | undefined = graph.outputName;
  for (let guard = 0; name && guard < 64; guard++) {
    const node: ReturnType<KerasGraph['node']> & object = graph.node(name)!;
    const act = node.config.activation;
    if (node.className === 'Softmax' || (node.className === 'Activation' && act === 'softmax')) {
      return node.inputs.length === 1 ? node.inputs[0].layer : null;
    }
    if (node.preSoftmax) return node.preSoftmax;
    if (SHAPE_ONLY.has(node.className) || (node.className === 'Activation' && act === 'linear')) {
      name = node.inputs[0]?.layer;
      continue;
    }
    if ((node.className === 'Dense' || node.className === 'Conv2D') && (act ?? 'linear') === 'linear') return node.name;
    return null;
  }
  return null;
}

export function importLayersModel(file: string, json: any, folder: ModelFolder): ImportedGraph {
  const topo = json.modelTopology?.model_config ?? json.modelTopology;
  if (!topo || typeof topo !== 'object' || !topo.class_name) throw new Error(`${file}: "modelTopology" has no Keras model config`);
  checkStructure(KERAS_TOPOLOGY, topo, `${file}: Keras model config`);
  const layerNames = new Set<string>(
    (Array.isArray(topo.config) ? topo.config : topo.config?.layers ?? []).map((l: any) => l.name ?? l.config?.name),
  );
  const { specs, data } = readWeights(file, json.weightsManifest, folder);
  const named = tf.io.decodeWeights(data, specs);
  const graph = (() => {
    try {
      return new KerasGraph(topo as KerasTopology, groupByLayer(named, layerNames));
    } catch (e) {
      Object.values(named).forEach((t) => t.dispose());
      throw new Error(`${file}: ${(e as Error).message}`);
    }
  })();
  return fromKerasGraph(graph, 'tfjs-layers', file);
}

/** Wraps a built Keras graph (TF.js layers or Keras file) as an imported graph. */
export function fromKerasGraph(graph: KerasGraph, format: ImportedGraph['format'], file: string): ImportedGraph {
  const run = (x: tf.Tensor4D, names: string[]) => graph.run(x, names);
  const outNames = graph.outputNames().map((o) => o.name);
  let shapes: Map<string, number[]>;
  try {
    shapes = dryRunShapes(run, graph.inputShape, outNames, file);
  } catch (e) {
    graph.dispose();
    throw (e as Error).message.startsWith(`${file}:`) ? e : new Error(`${file}: ${(e as Error).message}`);
  }
  return {
    format,
    inputShape: graph.inputShape,
    layers: kerasLayerInfos(graph, shapes),
    logitsLayer: findKerasLogits(graph),
    outputLayer: graph.outputName,
    run,
    dispose: () => graph.dispose(),
  };
}

export async function importGraphModel(file: string, json: any, folder: ModelFolder): Promise<ImportedGraph> {
  const { specs, data } = readWeights(file, json.weightsManifest, folder);
  const nodes: any[] = json.modelTopology.node ?? [];
  const placeholders = nodes.filter((n) => n.op === 'Placeholder');
  if (placeholders.length !== 1) {
    throw new Error(`${file}: graph models with ${placeholders.length} inputs are not supported (exactly one image input)`);
  }
  const input = placeholders[0];
  const dimList: unknown = input.attr?.shape?.shape?.dim ?? [];
  const dims = Array.isArray(dimList) ? dimList.map((d: any) => Number(d?.size)) : [NaN];
  if (!dims.every((d: number) => Number.isSafeInteger(d) && d >= -1)) {
    throw new Error(`${file}: the input node ${input.name} declares shape ${JSON.stringify(dimList).slice(0, 80)}: expected a list of {"size": n} with whole numbers (-1 for any)`);
  }
  const inputShape = dims.map((d: number, i: number) => (i === 0 || d < 0 ? null : d));
  const outputNode = (json.signature?.outputs ? Object.values<any>(json.signature.outputs)[0]?.name : undefined)?.replace(/:\d+$/, '');
  if (!json.modelTopology.library?.function?.length) {
    const weights = tf.io.decodeWeights(data, specs);
    const g = interpretGraph(path.basename(file), nodes, input.name, weights);
    if ('unsupported' in g) Object.values(weights).forEach((t) => t.dispose());
    else {
      let shapes: Map<string, number[]> | undefined;
      try {
        shapes = dryRunShapes((x, names) => g.run(x, names), inputShape, g.steps.map((s) => s.name), file);
      } catch {
        g.dispose(); // the executor below runs it, or says what is wrong
      }
      if (shapes) {
        const known = shapes;
        const layers: LayerInfo[] = g.steps.map((st) => {
          const s = known.get(st.name) ?? [];
          return { name: st.name, kind: st.kind, outputShape: [null, ...s.slice(1)], channels: s.length ? s[s.length - 1] : 0 };
        });
        const out = outputNode && known.has(outputNode) ? outputNode : g.steps[g.steps.length - 1]?.name;
        const softmax = [...nodes].reverse().find((n) => n.op === 'Softmax');
        const logits = softmax ? String(softmax.input[0]).replace(/:\d+$/, '') : out && known.get(out)?.length === 2 ? out : null;
        return { format: 'tfjs-graph', inputShape, layers, logitsLayer: logits && known.has(logits) ? logits : null, outputLayer: out, run: (x, names) => g.run(x, names), dispose: () => g.dispose() };
      }
    }
  }
  const handler: tf.io.IOHandler = {
    load: async () => ({
      modelTopology: json.modelTopology,
      weightSpecs: specs,
      weightData: data,
      format: json.format,
      generatedBy: json.generatedBy,
      convertedBy: json.convertedBy,
      signature: json.signature,
      userDefinedMetadata: json.userDefinedMetadata,
      modelInitializer: json.modelInitializer,
    }),
  };
  let model: tfc.GraphModel;
  try {
    model = await tfc.loadGraphModel(handler);
  } catch (e) {
    throw new Error(`${file}: TF.js cannot load this graph: ${inWords(e)}`);
  }
  const opNodes = nodes.filter((n) => n.op !== 'Const' && n.op !== 'Placeholder' && n.op !== 'NoOp');
  const names = opNodes.map((n) => n.name as string);
  const run = (x: tf.Tensor4D, wanted: string[]): tf.Tensor[] => {
    const out = model.execute({ [input.name]: x }, wanted);
    return Array.isArray(out) ? out : [out];
  };
  let shapes: Map<string, number[]>;
  try {
    shapes = dryRunShapes(run, inputShape, names, file);
  } catch (e) {
    model.dispose();
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  const layers: LayerInfo[] = opNodes.map((n) => {
    const s = shapes.get(n.name) ?? [];
    return { name: n.name, kind: n.op, outputShape: [null, ...s.slice(1)], channels: s.length ? s[s.length - 1] : 0 };
  });
  // Logits: the input of the last Softmax, else the (2-D) output node.
  const softmax = [...opNodes].reverse().find((n) => n.op === 'Softmax');
  let logits: string | null = null;
  const out = model.outputs[0]?.name.replace(/:\d+$/, '');
  if (softmax) logits = String(softmax.input[0]).replace(/:\d+$/, '');
  else if (out && (shapes.get(out)?.length ?? 0) === 2) logits = out;
  return { format: 'tfjs-graph', inputShape, layers, logitsLayer: logits, outputLayer: out, run, dispose: () => model.dispose() };
}
