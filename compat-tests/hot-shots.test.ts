// hot-shots (npm, DogStatsD flavour) in this process, over UDP and TCP, buffered and not.
import { StatsD, type ClientOptions } from 'hot-shots';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { expectedSamples, gaugeOps, valueOps, type ClientOp, type Tags } from './client-ops.js';
import { counterIncrements, latenciesMs } from './data-sets.js';
import { startHourglass, type HourglassUnderTest } from './embedded-hourglass.js';
import { expectEveryKeyMatches, expectStatsMatch } from './stat-queries.js';

let hourglass: HourglassUnderTest;

beforeAll(async () => {
  hourglass = await startHourglass();
});

afterAll(async () => {
  await hourglass?.stop();
});

/** hot-shots takes tags as an object or as `k:v` strings; alternate to cover both. */
function hotShotsTags(tags: Tags | undefined, index: number): Tags | string[] | undefined {
  if (tags === undefined) return undefined;
  return index % 2 === 0 ? tags : Object.entries(tags).map(([k, v]) => `${k}:${v}`);
}

/**
 * Sends `ops` through a new hot-shots client and closes it (close flushes its buffer).
 * hot-shots samples with Math.random() < rate; the stub makes `keep` decide instead.
 */
async function sendWithHotShots(options: ClientOptions, ops: readonly ClientOp[]): Promise<void> {
  const errors: Error[] = [];
  const client = new StatsD({ host: '127.0.0.1', port: hourglass.statsdPort, errorHandler: (err) => errors.push(err), ...options });
  let keepNext = true;
  const random = vi.spyOn(Math, 'random').mockImplementation(() => (keepNext ? 0 : 0.999999));
  try {
    ops.forEach((op, i) => {
      const tags = hotShotsTags(op.tags, i);
      switch (op.kind) {
        case 'timing':
        case 'histogram':
        case 'distribution':
          keepNext = op.keep ?? true;
          client[op.kind](op.key, op.value, op.rate, tags);
          break;
        case 'count':
          keepNext = op.keep ?? true;
          if (op.value >= 0) client.increment(op.key, op.value, op.rate, tags);
          else client.decrement(op.key, -op.value, op.rate, tags);
          break;
        case 'gauge':
          client.gauge(op.key, op.value, undefined, tags);
          break;
        case 'gaugeDelta':
          client.gaugeDelta(op.key, op.value, undefined, tags);
          break;
      }
    });
  } finally {
    random.mockRestore();
  }
  await new Promise<void>((resolve, reject) => client.close((err) => (err ? reject(err) : resolve())));
  expect(errors, 'hot-shots reported send errors').toEqual([]);
}

const BUFFERED = { maxBufferSize: 1000, bufferFlushInterval: 20 } as const;

describe('hot-shots', () => {
  it('UDP, buffered: timers, histograms and distributions', async () => {
    const ops = [
      ...valueOps('timing', 'hs.udp.timer', latenciesMs({ count: 1000, seed: 1, stepMs: 0.5 })),
      ...valueOps('histogram', 'hs.udp.histogram', latenciesMs({ count: 777, seed: 2, stepMs: 0.001, medianMs: 12 })),
      ...valueOps('distribution', 'hs.udp.distribution', latenciesMs({ count: 1500, seed: 3, stepMs: 0.1, medianMs: 250 })),
    ];
    await sendWithHotShots(BUFFERED, ops);
    await expectEveryKeyMatches(hourglass.httpPort, ops);
  });

  it('UDP, buffered: counters and gauges (absolute and delta)', async () => {
    const increments = counterIncrements(600, 4).map((v, i) => (i % 7 === 3 ? -v : v));
    const ops = [...valueOps('count', 'hs.udp.counter', increments), ...gaugeOps('hs.udp.gauge', 300, 5)];
    await sendWithHotShots(BUFFERED, ops);
    await expectEveryKeyMatches(hourglass.httpPort, ops);
  });

  it('UDP, buffered: tags as object and array, ?tag= filters and the aggregate of all tag sets', async () => {
    const key = 'hs.udp.tagged';
    const ops = [
      ...valueOps('timing', key, latenciesMs({ count: 400, seed: 6, stepMs: 0.25 }), { tags: { route: 'checkout', region: 'eu' } }),
      ...valueOps('timing', key, latenciesMs({ count: 350, seed: 7, stepMs: 0.25, medianMs: 140 }), { tags: { route: 'checkout', region: 'us' } }),
      ...valueOps('timing', key, latenciesMs({ count: 250, seed: 8, stepMs: 0.25, medianMs: 30 }), { tags: { route: 'search', region: 'eu' } }),
      ...valueOps('timing', key, latenciesMs({ count: 100, seed: 9, stepMs: 1 })),
    ];
    await sendWithHotShots(BUFFERED, ops);
    await expectStatsMatch(hourglass.httpPort, key, expectedSamples(ops, key));
    const filters: Tags[] = [{ route: 'checkout' }, { region: 'eu' }, { route: 'checkout', region: 'eu' }, { route: 'search' }, { region: 'us', route: 'checkout' }];
    for (const tags of filters) {
      await expectStatsMatch(hourglass.httpPort, key, expectedSamples(ops, key, { tags }), tags);
    }
  });

  it('UDP, buffered: sampled values and counters weigh 1/rate', async () => {
    const ops = [
      ...valueOps('timing', 'hs.udp.sampled.timer', latenciesMs({ count: 600, seed: 10, stepMs: 0.5 }), { rate: 0.5, keepEvery: 2 }),
      ...valueOps('histogram', 'hs.udp.sampled.histogram', latenciesMs({ count: 800, seed: 11, stepMs: 0.1 }), { rate: 0.25, keepEvery: 4 }),
      ...valueOps('distribution', 'hs.udp.sampled.distribution', latenciesMs({ count: 1000, seed: 12, stepMs: 1 }), { rate: 0.1, keepEvery: 10 }),
      // Unsampled and sampled values of one key: weights 1 and 2 side by side.
      ...valueOps('timing', 'hs.udp.sampled.mixed', latenciesMs({ count: 501, seed: 13, stepMs: 0.5 })),
      ...valueOps('timing', 'hs.udp.sampled.mixed', latenciesMs({ count: 400, seed: 14, stepMs: 0.5, medianMs: 120 }), { rate: 0.5, keepEvery: 2 }),
      ...valueOps('count', 'hs.udp.sampled.counter', counterIncrements(400, 15), { rate: 0.25, keepEvery: 4 }),
    ];
    await sendWithHotShots(BUFFERED, ops);
    await expectEveryKeyMatches(hourglass.httpPort, ops);
  });

  it('TCP, buffered: every metric type with tags', async () => {
    const tags = { route: 'checkout' };
    const ops = [
      ...valueOps('timing', 'hs.tcp.timer', latenciesMs({ count: 1200, seed: 20, stepMs: 0.5 }), { tags }),
      ...valueOps('histogram', 'hs.tcp.histogram', latenciesMs({ count: 555, seed: 21, stepMs: 0.01 })),
      ...valueOps('distribution', 'hs.tcp.distribution', latenciesMs({ count: 800, seed: 22, stepMs: 0.1 }), { rate: 0.5, keepEvery: 2 }),
      ...valueOps('count', 'hs.tcp.counter', counterIncrements(300, 23)),
      ...gaugeOps('hs.tcp.gauge', 200, 24),
    ];
    await sendWithHotShots({ ...BUFFERED, protocol: 'tcp' }, ops);
    await expectEveryKeyMatches(hourglass.httpPort, ops);
    await expectStatsMatch(hourglass.httpPort, 'hs.tcp.timer', expectedSamples(ops, 'hs.tcp.timer', { tags }), tags);
  });

  it('TCP, unbuffered (one write per metric): timers and counters', async () => {
    const ops = [
      ...valueOps('timing', 'hs.tcp.unbuffered.timer', latenciesMs({ count: 500, seed: 30, stepMs: 0.5 })),
      ...valueOps('count', 'hs.tcp.unbuffered.counter', counterIncrements(250, 31)),
    ];
    await sendWithHotShots({ protocol: 'tcp' }, ops);
    await expectEveryKeyMatches(hourglass.httpPort, ops);
  });
});
