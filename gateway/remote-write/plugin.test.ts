import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import snappy from 'snappy';
import { afterEach, describe, expect, it } from 'vitest';
import { registerRemoteWrite } from './index.js';
import { RecordingSink } from './recording-sink.js';
import { encodeRequestV2, encodeWriteRequestV1 } from './schema.js';

const MAX_BODY_BYTES = 2048;
const T = Date.UTC(2026, 10, 22, 21, 30); // ms
const HOUR = Date.UTC(2026, 10, 22, 21) / 1000;

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function setup() {
  const sink = new RecordingSink();
  const registry = new Registry();
  app = Fastify();
  // another route of the same app keeps its own JSON parsing
  app.post('/other', async (request) => ({ got: request.body }));
  await registerRemoteWrite(app, { maxBodyBytes: MAX_BODY_BYTES, sink, registry, retryAfterSec: 7 });
  await app.ready();
  const counter = async (name: string, labels: Record<string, string> = {}) => {
    const metric = await registry.getSingleMetric(name)?.get();
    const found = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
    return found?.value ?? 0;
  };
  return { sink, registry, app, counter };
}

const v1Body = (timeseries: object[]) => snappy.compressSync(Buffer.from(encodeWriteRequestV1({ timeseries })));
const labels = (o: Record<string, string>) => Object.entries(o).map(([name, value]) => ({ name, value }));
/** An Exemplar message with value 1 (field 2, a double): the schema keeps exemplars as bytes. */
const EXEMPLAR = Buffer.from([0x11, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
const HEADERS_V1 = { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' };
const HEADERS_V2 = { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '2.0.0' };

const post = (a: FastifyInstance, payload: Buffer | string, headers: Record<string, string> = HEADERS_V1) => a.inject({ method: 'POST', url: '/api/v1/write', payload, headers });

describe('POST /api/v1/write', () => {
  it('takes a 1.0 request: 204, values in the sink, counters by kind and status', async () => {
    const { sink, app, counter } = await setup();
    const body = v1Body([
      { labels: labels({ __name__: 'queue_depth', queue: 'mail' }), samples: [{ value: 3, timestamp: T }] },
      { labels: labels({ __name__: 'sent_total', queue: 'mail' }), samples: [{ value: 10, timestamp: T }, { value: 12, timestamp: T + 15_000 }] },
    ]);
    const res = await post(app, body);
    expect(res.statusCode).toBe(204);
    expect(res.headers['x-prometheus-remote-write-samples-written']).toBeUndefined(); // a 2.0 header
    expect(sink.samples).toEqual([
      { name: 'queue_depth', tags: 'queue:mail', type: 'g', value: 3, hourSec: HOUR },
      { name: 'sent_total', tags: 'queue:mail', type: 'c', value: 2, hourSec: HOUR },
    ]);
    expect(await counter('hourglass_remote_write_samples_received_total', { kind: 'gauge' })).toBe(1);
    expect(await counter('hourglass_remote_write_samples_received_total', { kind: 'counter' })).toBe(2);
    expect(await counter('hourglass_remote_write_requests_total', { status: '204' })).toBe(1);
    // the retry of the same request changes nothing, and says why
    expect((await post(app, body)).statusCode).toBe(204);
    expect(sink.samples).toHaveLength(2);
    expect(await counter('hourglass_remote_write_samples_skipped_total', { reason: 'duplicate' })).toBe(3);
    expect(await counter('hourglass_remote_write_requests_total', { status: '204' })).toBe(2);
  });

  it('takes a 2.0 request and answers the Written headers', async () => {
    const { sink, app } = await setup();
    const body = snappy.compressSync(
      Buffer.from(
        encodeRequestV2({
          symbols: ['', '__name__', 'temp_celsius', 'room', 'lab', 'events'],
          timeseries: [
            { labels_refs: [1, 2, 3, 4], samples: [{ value: 21.5, timestamp: T }, { value: NaN, timestamp: T + 1 }] },
            { labels_refs: [1, 5], samples: [{ value: 1, timestamp: T }, { value: 4, timestamp: T + 1000 }], metadata: { type: 1 }, exemplars: [EXEMPLAR] },
          ],
        }),
      ),
    );
    const res = await post(app, body, HEADERS_V2);
    expect(res.statusCode).toBe(204);
    expect(res.headers['x-prometheus-remote-write-samples-written']).toBe('3'); // the NaN was not
    expect(res.headers['x-prometheus-remote-write-histograms-written']).toBe('0');
    expect(res.headers['x-prometheus-remote-write-exemplars-written']).toBe('0');
    expect(sink.samples.map((s) => [s.name, s.tags, s.type, s.value])).toEqual([
      ['temp_celsius', 'room:lab', 'g', 21.5],
      ['events', '', 'c', 3],
    ]);
  });

  it('answers 400 problem+json for an undecodable body and keeps nothing', async () => {
    const { sink, app, counter } = await setup();
    const good = { labels: labels({ __name__: 'g' }), samples: [{ value: 1, timestamp: T }] };
    const whole = Buffer.from(encodeWriteRequestV1({ timeseries: [good, good, good] }));
    for (const payload of [Buffer.from('not snappy at all'), snappy.compressSync(whole.subarray(0, whole.length - 3)), snappy.compressSync(whole).subarray(0, 12)]) {
      const res = await post(app, payload);
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      const problem = res.json();
      expect(problem).toMatchObject({ type: 'urn:hourglass:problem:rw-undecodable', title: 'Undecodable remote write request', status: 400 });
      expect(problem.detail).toMatch(/snappy|protobuf/);
    }
    expect(sink.samples).toEqual([]);
    expect(await counter('hourglass_remote_write_requests_total', { status: '400' })).toBe(3);
  });

  it('answers 413 over the bound, compressed or decompressed', async () => {
    const { sink, app, counter } = await setup();
    const big = await post(app, Buffer.alloc(MAX_BODY_BYTES + 1, 0x41));
    expect(big.statusCode).toBe(413);
    expect(big.json()).toMatchObject({ status: 413, title: 'Remote write request too large' });
    // a tiny body that declares (and really holds) more than the bound once decompressed
    const series = Array.from({ length: 100 }, (_, i) => ({ labels: labels({ __name__: 'g', n: String(i).padStart(30, '0') }), samples: [{ value: 1, timestamp: T }] }));
    const bomb = v1Body(series);
    expect(bomb.length).toBeLessThan(MAX_BODY_BYTES);
    const res = await post(app, bomb);
    expect(res.statusCode).toBe(413);
    expect(res.json().detail).toMatch(/decompress to \d+ bytes, over the limit of 2048/);
    expect(sink.samples).toEqual([]);
    expect(await counter('hourglass_remote_write_requests_total', { status: '413' })).toBe(2);
  });

  it('answers 415 for another content type or encoding', async () => {
    const { app, counter } = await setup();
    const body = v1Body([]);
    const json = await app.inject({ method: 'POST', url: '/api/v1/write', payload: { a: 1 } });
    expect(json.statusCode).toBe(415);
    expect(json.json().detail).toMatch(/application\/json/);
    expect((await post(app, body, { ...HEADERS_V1, 'content-encoding': 'gzip' })).statusCode).toBe(415);
    expect((await post(app, body, { ...HEADERS_V1, 'content-type': 'application/x-protobuf;proto=foo.Bar' })).statusCode).toBe(415);
    const bare = await app.inject({ method: 'POST', url: '/api/v1/write', payload: body, headers: { 'content-encoding': 'snappy', 'content-type': '' } });
    expect(bare.statusCode).toBe(415);
    expect(await counter('hourglass_remote_write_requests_total', { status: '415' })).toBe(4);
    // the rest of the app still parses its JSON
    const other = await app.inject({ method: 'POST', url: '/other', payload: { a: 1 } });
    expect(other.json()).toEqual({ got: { a: 1 } });
  });

  it('answers 503 with Retry-After when the sink cannot take data, and the retry is applied once', async () => {
    const { sink, app, counter } = await setup();
    const body = v1Body([
      { labels: labels({ __name__: 'a' }), samples: [{ value: 1, timestamp: T }] },
      { labels: labels({ __name__: 'b' }), samples: [{ value: 2, timestamp: T }] },
    ]);
    sink.refusal = 'not-accepting';
    let res = await post(app, body);
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('7');
    expect(res.json()).toMatchObject({ status: 503, title: 'Cannot take data now' });
    sink.refusal = 'throw';
    sink.refuseAfter = 1; // takes `a`, then refuses
    res = await post(app, body);
    expect(res.statusCode).toBe(503);
    expect(sink.samples.map((s) => s.name)).toEqual(['a']);
    sink.refusal = 'none';
    expect((await post(app, body)).statusCode).toBe(204);
    expect(sink.samples.map((s) => s.name)).toEqual(['a', 'b']);
    expect(await counter('hourglass_remote_write_requests_total', { status: '503' })).toBe(2);
  });

  it('turns a classic histogram into histogram increments', async () => {
    const { sink, app, counter } = await setup();
    const scrape = (t: number, le: [string, number][], count: number, sum: number) =>
      v1Body([
        ...le.map(([b, v]) => ({ labels: labels({ __name__: 'rpc_seconds_bucket', le: b, svc: 'x' }), samples: [{ value: v, timestamp: t }] })),
        { labels: labels({ __name__: 'rpc_seconds_sum', svc: 'x' }), samples: [{ value: sum, timestamp: t }] },
        { labels: labels({ __name__: 'rpc_seconds_count', svc: 'x' }), samples: [{ value: count, timestamp: t }] },
      ]);
    await post(app, scrape(T, [['0.25', 1], ['1', 1], ['+Inf', 2]], 2, 3));
    await post(app, scrape(T + 15_000, [['0.25', 5], ['1', 8], ['+Inf', 9]], 9, 7.5));
    expect(sink.histograms).toEqual([{ name: 'rpc_seconds', tags: 'svc:x', hourSec: HOUR, upperBounds: [0.25, 1, Infinity], counts: [4, 7, 7], count: 7, sum: 4.5 }]);
    expect(await counter('hourglass_remote_write_samples_received_total', { kind: 'histogram' })).toBe(10);
  });
});
