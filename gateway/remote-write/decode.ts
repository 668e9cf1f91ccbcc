/**
 * From an HTTP body to the series of a remote write request: content negotiation (1.0 or 2.0 by
 * Content-Type), the snappy block format with its size checked before anything is allocated, and
 * the protobuf message. Any failure throws a RemoteWriteError before a sample is kept.
 *
 * snappy (dependency): the napi-rs binding of the Rust `snap` crate, shipped prebuilt inside
 * npm packages (nothing downloaded at install). It checks the block stream fully (a truncated
 * stream is an error, not zeros), which the pure-JS snappyjs does not; it has no output bound of
 * its own, so the length prefix is read and checked here first.
 */
import snappy from 'snappy';
import { RemoteWriteError } from './errors.js';
import { decodeRequestV2, decodeWriteRequestV1, int64ToNumber, type WireSampleV1 } from './schema.js';

export const REMOTE_WRITE_VERSIONS = ['1.0', '2.0'] as const;
export type RemoteWriteVersion = (typeof REMOTE_WRITE_VERSIONS)[number];

const PROTO_V1 = 'prometheus.WriteRequest';
const PROTO_V2 = 'io.prometheus.write.v2.Request';

export interface RemoteWriteSample {
  readonly value: number;
  readonly timestampMs: number;
  /**
   * True for Prometheus's stale marker. Read from the bits as soon as the value is decoded:
   * V8 may canonicalise a NaN's payload once it is stored in an array of doubles.
   */
  readonly stale: boolean;
}

/** One series of a request, the same shape for 1.0 and 2.0. */
export interface RemoteWriteSeries {
  /** `__name__`, or undefined when the series has none. */
  readonly name: string | undefined;
  /** The other labels, as sent. */
  readonly labels: readonly (readonly [string, string])[];
  readonly samples: readonly RemoteWriteSample[];
  /** PROM_METRIC_TYPE from 2.0 series metadata (0 when unknown or 1.0). */
  readonly metricType: number;
  readonly nativeHistograms: number;
  readonly exemplars: number;
}

export interface RemoteWriteRequest {
  readonly version: RemoteWriteVersion;
  readonly series: readonly RemoteWriteSeries[];
  /** 1.0 metadata: metric family name -> PROM_METRIC_TYPE. */
  readonly familyTypes: ReadonlyMap<string, number>;
}

/**
 * The version a Content-Type asks for, or a 415. 1.0 senders send `application/x-protobuf`
 * without a `proto` parameter; 2.0 names its message (remote write 2.0 spec, "Content-Type").
 */
export function remoteWriteVersion(contentType: string | undefined): RemoteWriteVersion {
  if (contentType === undefined) throw new RemoteWriteError('HG_RW_UNSUPPORTED_MEDIA_TYPE', 'Content-Type is missing; send application/x-protobuf');
  const parts = contentType.split(';');
  const mediaType = parts[0].trim().toLowerCase();
  if (mediaType !== 'application/x-protobuf') {
    throw new RemoteWriteError('HG_RW_UNSUPPORTED_MEDIA_TYPE', `Content-Type ${JSON.stringify(mediaType)} is not application/x-protobuf`);
  }
  let proto = PROTO_V1;
  for (let i = 1; i < parts.length; i++) {
    const eq = parts[i].indexOf('=');
    if (eq === -1) continue;
    if (parts[i].slice(0, eq).trim().toLowerCase() !== 'proto') continue;
    proto = parts[i].slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  if (proto === PROTO_V1) return '1.0';
  if (proto === PROTO_V2) return '2.0';
  throw new RemoteWriteError('HG_RW_UNSUPPORTED_MEDIA_TYPE', `proto=${JSON.stringify(proto)} is not one of ${PROTO_V1}, ${PROTO_V2}`);
}

/** Remote write bodies are snappy block format, nothing else (1.0 and 2.0 specs). */
export function checkContentEncoding(contentEncoding: string | undefined): void {
  const encoding = contentEncoding?.trim().toLowerCase();
  if (encoding !== 'snappy') {
    throw new RemoteWriteError('HG_RW_UNSUPPORTED_MEDIA_TYPE', encoding === undefined || encoding === '' ? 'Content-Encoding is missing; remote write bodies are snappy' : `Content-Encoding ${JSON.stringify(encoding)} is not snappy`);
  }
}

/**
 * The uncompressed length a snappy block declares: a little-endian base-128 varint of at most
 * 32 bits at its start (snappy format_description.txt). Undefined when it is not a valid one.
 */
export function snappyUncompressedLength(block: Uint8Array): number | undefined {
  let length = 0;
  for (let i = 0; i < 5 && i < block.length; i++) {
    const byte = block[i];
    length += (byte & 0x7f) * 2 ** (7 * i);
    if (byte < 0x80) return length <= 0xffffffff ? length : undefined;
  }
  return undefined;
}

/** Snappy block -> bytes, refusing (413) a declared length over `maxBytes` before allocating. */
export function snappyUncompress(block: Uint8Array, maxBytes: number): Buffer {
  const length = snappyUncompressedLength(block);
  if (length === undefined) throw new RemoteWriteError('HG_RW_UNDECODABLE', 'body is not snappy block format: bad length prefix');
  if (length > maxBytes) throw new RemoteWriteError('HG_RW_TOO_LARGE', `body would decompress to ${length} bytes, over the limit of ${maxBytes}`);
  let out: Buffer;
  try {
    out = snappy.uncompressSync(block, { asBuffer: true }) as Buffer;
  } catch (err) {
    throw new RemoteWriteError('HG_RW_UNDECODABLE', `body is not snappy block format: ${(err as Error).message}`, { cause: err });
  }
  if (out.length !== length) throw new RemoteWriteError('HG_RW_UNDECODABLE', `snappy block declared ${length} bytes and held ${out.length}`);
  return out;
}

/** Prometheus's stale marker: a NaN with this exact bit pattern (model/value/value.go). */
const STALE_HIGH = 0x7ff00000;
const STALE_LOW = 0x00000002;
const bits = new Float64Array(1);
const words = new Uint32Array(bits.buffer);
// Float64Array shares the platform's byte order; the stale check reads the high and low words.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HIGH = LITTLE_ENDIAN ? 1 : 0;
const LOW = LITTLE_ENDIAN ? 0 : 1;

export function isStaleMarker(value: number): boolean {
  if (value === value) return false;
  bits[0] = value;
  return words[HIGH] === STALE_HIGH && words[LOW] === STALE_LOW;
}

function samplesOf(wire: readonly WireSampleV1[]): RemoteWriteSample[] {
  const samples = new Array<RemoteWriteSample>(wire.length);
  for (let i = 0; i < wire.length; i++) {
    const value = wire[i].value;
    samples[i] = { value, timestampMs: int64ToNumber(wire[i].timestamp), stale: isStaleMarker(value) };
  }
  return samples;
}

function protobufError(version: RemoteWriteVersion, err: unknown): RemoteWriteError {
  const message = version === '1.0' ? PROTO_V1 : PROTO_V2;
  return new RemoteWriteError('HG_RW_UNDECODABLE', `body is not a protobuf ${message}: ${(err as Error).message}`, { cause: err });
}

export function decodeV1(bytes: Uint8Array): RemoteWriteRequest {
  let wire;
  try {
    wire = decodeWriteRequestV1(bytes);
  } catch (err) {
    throw protobufError('1.0', err);
  }
  const series: RemoteWriteSeries[] = [];
  for (const ts of wire.timeseries) {
    let name: string | undefined;
    const labels: [string, string][] = [];
    for (const label of ts.labels) {
      if (label.name === '__name__') name = label.value;
      else labels.push([label.name, label.value]);
    }
    series.push({ name, labels, samples: samplesOf(ts.samples), metricType: 0, nativeHistograms: ts.histograms.length, exemplars: ts.exemplars.length });
  }
  const familyTypes = new Map<string, number>();
  for (const m of wire.metadata) familyTypes.set(m.metric_family_name, m.type);
  return { version: '1.0', series, familyTypes };
}

export function decodeV2(bytes: Uint8Array): RemoteWriteRequest {
  let wire;
  try {
    wire = decodeRequestV2(bytes);
  } catch (err) {
    throw protobufError('2.0', err);
  }
  const symbols = wire.symbols;
  const series: RemoteWriteSeries[] = [];
  for (let s = 0; s < wire.timeseries.length; s++) {
    const ts = wire.timeseries[s];
    const refs = ts.labels_refs;
    if (refs.length % 2 !== 0) throw new RemoteWriteError('HG_RW_UNDECODABLE', `timeseries[${s}].labels_refs has ${refs.length} entries, not name/value pairs`);
    let name: string | undefined;
    const labels: [string, string][] = [];
    for (let i = 0; i < refs.length; i += 2) {
      for (const j of [i, i + 1]) {
        if (refs[j] >= symbols.length) throw new RemoteWriteError('HG_RW_UNDECODABLE', `timeseries[${s}].labels_refs[${j}] = ${refs[j]} is outside the symbols table (${symbols.length} symbols)`);
      }
      const labelName = symbols[refs[i]];
      if (labelName === '__name__') name = symbols[refs[i + 1]];
      else labels.push([labelName, symbols[refs[i + 1]]]);
    }
    series.push({ name, labels, samples: samplesOf(ts.samples), metricType: ts.metadata?.type ?? 0, nativeHistograms: ts.histograms.length, exemplars: ts.exemplars.length });
  }
  return { version: '2.0', series, familyTypes: new Map() };
}

export interface DecodeLimits {
  /** Bound on the compressed body and on its decompressed size (MAX_HTTP_BODY_BYTES). */
  readonly maxBodyBytes: number;
}

/** Headers + body -> request; throws RemoteWriteError (400/413/415) and keeps nothing. */
export function decodeRemoteWrite(contentType: string | undefined, contentEncoding: string | undefined, body: Uint8Array, limits: DecodeLimits): RemoteWriteRequest {
  const version = remoteWriteVersion(contentType);
  checkContentEncoding(contentEncoding);
  if (body.length > limits.maxBodyBytes) throw new RemoteWriteError('HG_RW_TOO_LARGE', `body is ${body.length} bytes, over the limit of ${limits.maxBodyBytes}`);
  const bytes = snappyUncompress(body, limits.maxBodyBytes);
  return version === '1.0' ? decodeV1(bytes) : decodeV2(bytes);
}
