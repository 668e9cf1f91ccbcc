import snappy from 'snappy';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../test-support/random.js';
import { decodeRemoteWrite, remoteWriteVersion, snappyUncompress, snappyUncompressedLength } from './decode.js';
import { RemoteWriteError } from './errors.js';
import { encodeRequestV2, encodeWriteRequestV1 } from './schema.js';

const V1 = 'application/x-protobuf';
const V2 = 'application/x-protobuf;proto=io.prometheus.write.v2.Request';
const limits = { maxBodyBytes: 4096 };

function refusal(fn: () => unknown): RemoteWriteError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RemoteWriteError) return err;
    throw err;
  }
  throw new Error('expected a RemoteWriteError');
}

describe('content negotiation', () => {
  it.each([
    ['application/x-protobuf', '1.0'],
    ['Application/X-Protobuf; proto=prometheus.WriteRequest', '1.0'],
    [V2, '2.0'],
    ['application/x-protobuf; proto="io.prometheus.write.v2.Request"', '2.0'],
  ])('%s is remote write %s', (contentType, version) => {
    expect(remoteWriteVersion(contentType)).toBe(version);
  });

  it.each([[undefined], ['application/json'], ['text/plain'], ['application/x-protobuf;proto=io.prometheus.write.v3.Request']])('%s is a 415', (contentType) => {
    expect(refusal(() => remoteWriteVersion(contentType))).toMatchObject({ code: 'HG_RW_UNSUPPORTED_MEDIA_TYPE', status: 415 });
  });

  it('a body that is not snappy-encoded is a 415', () => {
    const body = snappy.compressSync(Buffer.alloc(0));
    expect(refusal(() => decodeRemoteWrite(V1, 'gzip', body, limits)).message).toMatch(/gzip.*not snappy/);
    expect(refusal(() => decodeRemoteWrite(V1, undefined, body, limits)).status).toBe(415);
  });
});

describe('snappy, bounded', () => {
  it('reads the varint length prefix', () => {
    expect(snappyUncompressedLength(Uint8Array.from([0x00]))).toBe(0);
    expect(snappyUncompressedLength(Uint8Array.from([0xfe, 0xff, 0x7f]))).toBe(2097150);
    expect(snappyUncompressedLength(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f]))).toBe(0xffffffff);
    expect(snappyUncompressedLength(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x1f]))).toBeUndefined(); // over 32 bits
    expect(snappyUncompressedLength(Uint8Array.from([0x80, 0x80]))).toBeUndefined(); // truncated
  });

  it('refuses a declared length over the bound with 413, before decompressing', () => {
    // 4 GiB - 1 declared, five bytes sent: allocating it would be the attack
    const err = refusal(() => snappyUncompress(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]), 4096));
    expect(err).toMatchObject({ code: 'HG_RW_TOO_LARGE', status: 413 });
    expect(err.message).toContain('4294967295');
    const real = snappy.compressSync(Buffer.alloc(5000, 1)); // compresses to a few bytes
    expect(real.length).toBeLessThan(4096);
    expect(refusal(() => snappyUncompress(real, 4096)).status).toBe(413);
    expect(snappyUncompress(real, 5000).length).toBe(5000);
  });

  it('refuses a truncated or corrupt block with 400', () => {
    const block = snappy.compressSync(Buffer.from('remote write '.repeat(50)));
    for (const cut of [1, 3, block.length - 1]) {
      expect(refusal(() => snappyUncompress(block.subarray(0, cut), 4096))).toMatchObject({ code: 'HG_RW_UNDECODABLE', status: 400 });
    }
    expect(refusal(() => snappyUncompress(Uint8Array.from([0x80]), 4096)).message).toMatch(/length prefix/);
  });

  it('refuses a compressed body over the bound with 413', () => {
    const random = seededRandom(7);
    const body = snappy.compressSync(Buffer.from(Array.from({ length: 8000 }, () => Math.floor(random() * 256)))); // incompressible
    expect(body.length).toBeGreaterThan(4096);
    expect(refusal(() => decodeRemoteWrite(V1, 'snappy', body, limits)).status).toBe(413);
  });
});

describe('protobuf', () => {
  it('decodes 1.0 with its metadata, and refuses garbage with 400', () => {
    const bytes = encodeWriteRequestV1({
      timeseries: [{ labels: [{ name: '__name__', value: 'up' }, { name: 'job', value: 'api' }], samples: [{ value: 1, timestamp: 1795381200123 }] }],
      metadata: [{ type: 1, metric_family_name: 'requests_total' }],
    });
    const req = decodeRemoteWrite(V1, 'snappy', snappy.compressSync(Buffer.from(bytes)), limits);
    expect(req.series).toEqual([{ name: 'up', labels: [['job', 'api']], samples: [{ value: 1, timestampMs: 1795381200123, stale: false }], metricType: 0, nativeHistograms: 0, exemplars: 0 }]);
    expect([...req.familyTypes]).toEqual([['requests_total', 1]]);
    const garbage = snappy.compressSync(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    expect(refusal(() => decodeRemoteWrite(V1, 'snappy', garbage, limits))).toMatchObject({ status: 400 });
    expect(refusal(() => decodeRemoteWrite(V1, 'snappy', snappy.compressSync(Buffer.from([0, 0, 0])), limits)).message).toMatch(/prometheus\.WriteRequest/);
  });

  it('decodes 2.0 through its symbols table', () => {
    const bytes = encodeRequestV2({
      symbols: ['', '__name__', 'jobs_done', 'job', 'api'],
      timeseries: [{ labels_refs: [1, 2, 3, 4], samples: [{ value: 3, timestamp: 5000 }], metadata: { type: 1 } }],
    });
    const req = decodeRemoteWrite(V2, 'snappy', snappy.compressSync(Buffer.from(bytes)), limits);
    expect(req.version).toBe('2.0');
    expect(req.series[0]).toMatchObject({ name: 'jobs_done', labels: [['job', 'api']], metricType: 1, samples: [{ value: 3, timestampMs: 5000 }] });
  });

  it('refuses 2.0 label references outside the symbols table, or not in pairs, with 400', () => {
    const outside = encodeRequestV2({ symbols: ['', '__name__', 'x'], timeseries: [{ labels_refs: [1, 7], samples: [{ value: 1, timestamp: 1 }] }] });
    expect(refusal(() => decodeRemoteWrite(V2, 'snappy', snappy.compressSync(Buffer.from(outside)), limits)).message).toMatch(/labels_refs\[1\] = 7 is outside the symbols table \(3 symbols\)/);
    const odd = encodeRequestV2({ symbols: ['', '__name__', 'x'], timeseries: [{ labels_refs: [1, 2, 1], samples: [] }] });
    expect(refusal(() => decodeRemoteWrite(V2, 'snappy', snappy.compressSync(Buffer.from(odd)), limits)).message).toMatch(/not name\/value pairs/);
  });

  it('reads a stale marker from its bit pattern', () => {
    const MARK = 12345.6789; // encoded, then its 8 bytes replaced by the stale marker's
    const bytes = Buffer.from(encodeWriteRequestV1({ timeseries: [{ labels: [{ name: '__name__', value: 'g' }], samples: [{ value: MARK, timestamp: 1 }, { value: NaN, timestamp: 2 }] }] }));
    const mark = Buffer.alloc(8);
    mark.writeDoubleLE(MARK);
    const at = bytes.indexOf(mark);
    expect(at).toBeGreaterThan(0);
    bytes.writeBigUInt64LE(0x7ff0000000000002n, at);
    const req = decodeRemoteWrite(V1, 'snappy', snappy.compressSync(bytes), limits);
    expect(req.series[0].samples.map((s) => s.stale)).toEqual([true, false]);
    expect(req.series[0].samples.every((s) => Number.isNaN(s.value))).toBe(true);
  });
});
