// Debian's python3-aiodogstatsd (asyncio DogStatsD client, UDP only): tagged timings,
// histograms and distributions, filtered with ?tag= and aggregated over every tag set.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { expectedSamples, gaugeOps, valueOps, type ClientOp, type Tags, type ValueKind } from './client-ops.js';
import { driveClient, type ClientScript } from './client-process.js';
import { counterIncrements, latenciesMs } from './data-sets.js';
import { startHourglass, type HourglassUnderTest } from './embedded-hourglass.js';
import { expectEveryKeyMatches, expectStatsMatch } from './stat-queries.js';
import { SYSTEM_INTERPRETERS } from './system.js';

const AIODOGSTATSD: ClientScript = { debianPackage: 'python3-aiodogstatsd', interpreter: SYSTEM_INTERPRETERS.python, file: 'python-aiodogstatsd-client.py' };
const UDP = { transport: 'udp', batched: false } as const;

let hourglass: HourglassUnderTest;

beforeAll(async () => {
  hourglass = await startHourglass();
});

afterAll(async () => {
  await hourglass?.stop();
});

/** Three tag sets and an untagged share of one key. */
function taggedOps(kind: ValueKind, key: string, seed: number, sampling: { rate?: number; keepEvery?: number } = {}): ClientOp[] {
  return [
    ...valueOps(kind, key, latenciesMs({ count: 400, seed, stepMs: 0.5 }), { ...sampling, tags: { route: 'checkout', region: 'eu' } }),
    ...valueOps(kind, key, latenciesMs({ count: 300, seed: seed + 1, stepMs: 0.5, medianMs: 150 }), { ...sampling, tags: { route: 'checkout', region: 'us' } }),
    ...valueOps(kind, key, latenciesMs({ count: 200, seed: seed + 2, stepMs: 0.05, medianMs: 20 }), { ...sampling, tags: { route: 'search', region: 'eu' } }),
    ...valueOps(kind, key, latenciesMs({ count: 100, seed: seed + 3, stepMs: 1 }), sampling),
  ];
}

const FILTERS: readonly Tags[] = [{ route: 'checkout' }, { region: 'eu' }, { route: 'checkout', region: 'us' }, { route: 'search' }];

async function expectTaggedKey(ops: readonly ClientOp[], key: string): Promise<void> {
  await expectStatsMatch(hourglass.httpPort, key, expectedSamples(ops, key));
  for (const tags of FILTERS) await expectStatsMatch(hourglass.httpPort, key, expectedSamples(ops, key, { tags }), tags);
}

describe('python3-aiodogstatsd', () => {
  it('timing, histogram and distribution with tags: ?tag= filters and the aggregate', async () => {
    const ops = [
      ...taggedOps('timing', 'aio.timer', 401),
      ...taggedOps('histogram', 'aio.histogram', 411),
      ...taggedOps('distribution', 'aio.distribution', 421),
    ];
    await driveClient(AIODOGSTATSD, hourglass.statsdPort, UDP, ops);
    for (const key of ['aio.timer', 'aio.histogram', 'aio.distribution']) await expectTaggedKey(ops, key);
  });

  it('sampled tagged values weigh 1/rate (`|@rate|#tags`)', async () => {
    const ops = [
      ...taggedOps('timing', 'aio.sampled.timer', 431, { rate: 0.5, keepEvery: 2 }),
      ...taggedOps('distribution', 'aio.sampled.distribution', 441, { rate: 0.25, keepEvery: 4 }),
    ];
    await driveClient(AIODOGSTATSD, hourglass.statsdPort, UDP, ops);
    for (const key of ['aio.sampled.timer', 'aio.sampled.distribution']) await expectTaggedKey(ops, key);
  });

  it('tagged counters and gauges', async () => {
    const ops: ClientOp[] = [
      ...valueOps('count', 'aio.counter', counterIncrements(300, 451), { tags: { route: 'checkout' } }),
      ...valueOps('count', 'aio.counter', counterIncrements(200, 452), { tags: { route: 'search' }, rate: 0.5, keepEvery: 2 }),
      // aiodogstatsd has no gauge-delta call: absolute gauges only.
      ...gaugeOps('aio.gauge', 150, 453, false).map((op) => ({ ...op, tags: { host: 'a' } })),
    ];
    await driveClient(AIODOGSTATSD, hourglass.statsdPort, UDP, ops);
    await expectEveryKeyMatches(hourglass.httpPort, ops);
    await expectStatsMatch(hourglass.httpPort, 'aio.counter', expectedSamples(ops, 'aio.counter', { tags: { route: 'search' } }), { route: 'search' });
  });
});
