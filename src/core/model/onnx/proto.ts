/**
 * The subset of onnx.proto (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto, field numbers unchanged)
 * that an image-model importer needs, decoded with protobufjs. Fields not listed here (training info, functions,
 * sparse initializers, ...) are skipped by the decoder.
 */
import * as protobuf from 'protobufjs';

const ONNX_PROTO = `
syntax = "proto2";
package onnx;
message StringStringEntryProto { optional string key = 1; optional string value = 2; }
message OperatorSetIdProto { optional string domain = 1; optional int64 version = 2; }
message TensorProto {
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true];
  repeated bytes string_data = 6;
  repeated int64 int64_data = 7 [packed = true];
  optional string name = 8;
  optional bytes raw_data = 9;
  repeated double double_data = 10 [packed = true];
  repeated uint64 uint64_data = 11 [packed = true];
  repeated StringStringEntryProto external_data = 13;
  optional int32 data_location = 14;
}
message TensorShapeProto {
  message Dimension { optional int64 dim_value = 1; optional string dim_param = 2; }
  repeated Dimension dim = 1;
}
message TypeProto {
  message Tensor { optional int32 elem_type = 1; optional TensorShapeProto shape = 2; }
  optional Tensor tensor_type = 1;
}
message ValueInfoProto { optional string name = 1; optional TypeProto type = 2; }
message AttributeProto {
  optional string name = 1;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  optional GraphProto g = 6;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  repeated TensorProto tensors = 10;
  optional int32 type = 20;
}
message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  repeated AttributeProto attribute = 5;
  optional string domain = 7;
}
message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}
message ModelProto {
  optional int64 ir_version = 1;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
}
`;

/** Anything protobufjs hands back for an int64 field: a number or a Long. */
export type Int64 = number | { toNumber(): number };

export interface TensorProto {
  dims: Int64[];
  dataType: number;
  floatData: number[];
  int32Data: number[];
  int64Data: Int64[];
  name: string;
  rawData: Uint8Array;
  doubleData: number[];
  uint64Data: Int64[];
  externalData: { key: string; value: string }[];
  dataLocation: number;
}
export interface AttributeProto {
  name: string;
  f: number;
  i: Int64;
  s: Uint8Array;
  t?: TensorProto;
  floats: number[];
  ints: Int64[];
  strings: Uint8Array[];
  type: number;
}
export interface NodeProto {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  attribute: AttributeProto[];
  domain: string;
}
export interface ValueInfoProto {
  name: string;
  type?: { tensorType?: { elemType: number; shape?: { dim: { dimValue?: Int64; dimParam?: string }[] } } };
}
export interface GraphProto {
  node: NodeProto[];
  name: string;
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
}
export interface ModelProto {
  irVersion: Int64;
  producerName: string;
  producerVersion: string;
  graph?: GraphProto;
  opsetImport: { domain: string; version: Int64 }[];
}

let modelType: protobuf.Type | undefined;

export function toNum(v: Int64 | undefined | null): number {
  if (v == null) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

function getModelType(): protobuf.Type {
  modelType ??= protobuf.parse(ONNX_PROTO, { keepCase: false }).root.lookupType('onnx.ModelProto');
  return modelType;
}

/** Decodes an ONNX ModelProto; throws protobufjs's error on malformed bytes. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  return getModelType().decode(bytes) as unknown as ModelProto;
}

/** Encodes a ModelProto given as a plain object (camelCase fields); used to write small test models. */
export function encodeModel(model: Record<string, unknown>): Uint8Array {
  const t = getModelType();
  return t.encode(t.fromObject(model)).finish();
}

/** ONNX TensorProto.DataType values. */
export const DT = {
  FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9,
  FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, BFLOAT16: 16,
} as const;

/** Decodes a serialized TensorProto (the `.pb` files of ONNX's node tests). */
export function decodeTensorProto(bytes: Uint8Array): TensorProto {
  return getModelType().lookupType('onnx.TensorProto').decode(bytes) as unknown as TensorProto;
}
