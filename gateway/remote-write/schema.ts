/**
 * The remote write wire schemas, written from the field numbers documented in Prometheus's
 * prompb/types.proto + remote.proto (1.0) and prompb/io/prometheus/write/v2/types.proto (2.0).
 * Only the fields Hourglass reads are declared; protobuf skips the others. Native histograms are
 * declared as `bytes` so they can be counted without being decoded.
 *
 * protobufjs (dependency): a well-kept protobuf runtime that builds decoders from .proto text at
 * start-up, so there is no code generation step and no protoc binary to download.
 */
import protobuf from 'protobufjs';

const PROTO = `
syntax = "proto3";

package prometheus;

message WriteRequest {
  repeated TimeSeries timeseries = 1;
  repeated MetricMetadata metadata = 3;
}
message TimeSeries {
  repeated Label labels = 1;
  repeated Sample samples = 2;
  repeated bytes exemplars = 3;
  repeated bytes histograms = 4;
}
message Label {
  string name = 1;
  string value = 2;
}
message Sample {
  double value = 1;
  int64 timestamp = 2;
}
message MetricMetadata {
  int32 type = 1;
  string metric_family_name = 2;
}
`;

const PROTO_V2 = `
syntax = "proto3";

package io.prometheus.write.v2;

message Request {
  repeated string symbols = 4;
  repeated TimeSeries timeseries = 5;
}
message TimeSeries {
  repeated uint32 labels_refs = 1;
  repeated Sample samples = 2;
  repeated bytes histograms = 3;
  repeated bytes exemplars = 4;
  Metadata metadata = 5;
}
message Sample {
  double value = 1;
  int64 timestamp = 2;
}
message Metadata {
  int32 type = 1;
}
`;

/** MetricType numbers, the same in 1.0's MetricMetadata and 2.0's Metadata. */
export const PROM_METRIC_TYPE = { unknown: 0, counter: 1, gauge: 2, histogram: 3, gaugeHistogram: 4, summary: 5, info: 6, stateSet: 7 } as const;

/** int64 fields decode to a Long (protobufjs uses the `long` package when present) or a number. */
export type Int64 = number | { toNumber(): number };

export interface WireSampleV1 {
  value: number;
  timestamp: Int64;
}
export interface WireSeriesV1 {
  labels: { name: string; value: string }[];
  samples: WireSampleV1[];
  exemplars: Uint8Array[];
  histograms: Uint8Array[];
}
export interface WireRequestV1 {
  timeseries: WireSeriesV1[];
  metadata: { type: number; metric_family_name: string }[];
}
export interface WireSeriesV2 {
  labels_refs: number[];
  samples: WireSampleV1[];
  histograms: Uint8Array[];
  exemplars: Uint8Array[];
  metadata?: { type: number } | null;
}
export interface WireRequestV2 {
  symbols: string[];
  timeseries: WireSeriesV2[];
}

const v1 = protobuf.parse(PROTO, { keepCase: true }).root.lookupType('prometheus.WriteRequest');
const v2 = protobuf.parse(PROTO_V2, { keepCase: true }).root.lookupType('io.prometheus.write.v2.Request');

/** Throws (protobufjs's RangeError or Error) on bytes that are not a valid message. */
export function decodeWriteRequestV1(bytes: Uint8Array): WireRequestV1 {
  return v1.decode(bytes) as unknown as WireRequestV1;
}

export function decodeRequestV2(bytes: Uint8Array): WireRequestV2 {
  return v2.decode(bytes) as unknown as WireRequestV2;
}

/** Encoders, for tests that build requests by hand. */
export function encodeWriteRequestV1(request: object): Uint8Array {
  return v1.encode(v1.fromObject(request)).finish();
}
export function encodeRequestV2(request: object): Uint8Array {
  return v2.encode(v2.fromObject(request)).finish();
}

export function int64ToNumber(value: Int64): number {
  return typeof value === 'number' ? value : value.toNumber();
}
