// The ONNX opsets (of the default domain, ai.onnx) the importer implements. Below 7, elementwise ops broadcast
// only with the `broadcast` attribute (numpy-style broadcasting came with opset 7), which the importer does not
// implement; above MAX_OPSET, ops may have changed meaning in ways it does not know. A model outside the range is
// refused with the range, rather than run with a guessed meaning.
export const MIN_OPSET = 7;
export const MAX_OPSET = 17;
