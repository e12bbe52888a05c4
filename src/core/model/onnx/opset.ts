/**
 * The ONNX opsets (of the default domain) the importer supports. Before opset 7, elementwise ops broadcast only
 * with the `broadcast` attribute (legacy semantics the importer does not implement).
 */
export const MIN_OPSET = 7;
export const MAX_OPSET = 17;
