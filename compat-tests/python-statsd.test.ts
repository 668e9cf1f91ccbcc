// Debian's python3-statsd (jsocol/pystatsd): StatsClient over UDP, TCPStatsClient over TCP,
// each call on its own and through a pipeline.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { expectedSamples, gaugeOps, valueOps, type ClientOp, type GaugeOp } from './client-ops.js';
import { driveClient, type ClientScript } from './client-process.js';
import { counterIncrements, latenciesMs } from './data-sets.js';
import { startHourglass, type HourglassUnderTest } from './embedded-hourglass.js';
import type { GaugeUpdate } from './expected-stats.js';
import { expectEveryKeyMatches, expectStatsMatch } from './stat-queries.js';
import { SYSTEM_INTERPRETERS } from './system.js';

const PYTHON_STATSD: ClientScript = { debianPackage: 'python3-statsd', interpreter: SYSTEM_INTERPRETERS.python, file: 'python-statsd-client.py' };

/** python-statsd sets a negative gauge as `0|g` then `-N|g`, since `-N|g` alone is a delta. */
function pythonWireGauge(op: GaugeOp): GaugeUpdate[] {
  if (op.kind === 'gaugeDelta') return [{ delta: op.value }];
  return op.value < 0 ? [{ set: 0 }, { delta: op.value }] : [{ set: op.value }];
}

let hourglass: HourglassUnderTest;

beforeAll(async () => {
  hourglass = await startHourglass();
});

afterAll(async () => {
  await hourglass?.stop();
});

function withDecrements(values: number[]): number[] {
  return values.map((v, i) => (i % 5 === 2 ? -v : v));
}

describe('python3-statsd', () => {
  // Timers go out as `%0.6f` (`12.5` -> `12.500000`); the data sets have at most 3 decimals.
  it('UDP, one datagram per call: timing, incr/decr, gauge and gauge delta', async () => {
    const ops: ClientOp[] = [
      ...valueOps('timing', 'py.udp.timer', latenciesMs({ count: 700, seed: 101, stepMs: 0.001 })),
      ...valueOps('count', 'py.udp.counter', withDecrements(counterIncrements(400, 102))),
      ...gaugeOps('py.udp.gauge', 250, 103),
    ];
    await driveClient(PYTHON_STATSD, hourglass.statsdPort, { transport: 'udp', batched: false }, ops);
    await expectEveryKeyMatches(hourglass.httpPort, ops);
  });

  it('UDP: a negative gauge is written as a reset to 0 and a delta', async () => {
    const key = 'py.udp.negative-gauge';
    const ops: ClientOp[] = [
      { kind: 'gauge', key, value: 5 },
      { kind: 'gauge', key, value: -3 },
      { kind: 'gaugeDelta', key, value: 2 },
      { kind: 'gauge', key, value: -7.5 },
      { kind: 'gaugeDelta', key, value: -0.5 },
    ];
    await driveClient(PYTHON_STATSD, hourglass.statsdPort, { transport: 'udp', batched: false }, ops);
    await expectStatsMatch(hourglass.httpPort, key, expectedSamples(ops, key, { wireGauge: pythonWireGauge }));
  });

  it('UDP pipeline (multi-line datagrams up to 512 bytes): timing, incr, gauge', async () => {
    const ops: ClientOp[] = [
      ...valueOps('timing', 'py.udp.pipeline.timer', latenciesMs({ count: 1500, seed: 111, stepMs: 0.1 })),
      ...valueOps('count', 'py.udp.pipeline.counter', counterIncrements(300, 112)),
      ...gaugeOps('py.udp.pipeline.gauge', 150, 113),
    ];
    await driveClient(PYTHON_STATSD, hourglass.statsdPort, { transport: 'udp', batched: true }, ops);
    await expectEveryKeyMatches(hourglass.httpPort, ops);
  });

  it('UDP: sampled timers and counters weigh 1/rate', async () => {
    const ops: ClientOp[] = [
      ...valueOps('timing', 'py.udp.sampled.timer', latenciesMs({ count: 800, seed: 121, stepMs: 0.5 }), { rate: 0.5, keepEvery: 2 }),
      ...valueOps('timing', 'py.udp.sampled.mixed', latenciesMs({ count: 300, seed: 122, stepMs: 0.5 })),
      ...valueOps('timing', 'py.udp.sampled.mixed', latenciesMs({ count: 400, seed: 123, stepMs: 0.5, medianMs: 200 }), { rate: 0.25, keepEvery: 4 }),
      ...valueOps('count', 'py.udp.sampled.counter', counterIncrements(500, 124), { rate: 0.1, keepEvery: 10 }),
    ];
    await driveClient(PYTHON_STATSD, hourglass.statsdPort, { transport: 'udp', batched: false }, ops);
    await expectEveryKeyMatches(hourglass.httpPort, ops);
  });

  it('TCP, one write per call: timing (sampled too), incr/decr, gauge and gauge delta', async () => {
    const ops: ClientOp[] = [
      ...valueOps('timing', 'py.tcp.timer', latenciesMs({ count: 900, seed: 131, stepMs: 0.25 })),
      ...valueOps('timing', 'py.tcp.sampled.timer', latenciesMs({ count: 400, seed: 132, stepMs: 0.25 }), { rate: 0.5, keepEvery: 2 }),
      ...valueOps('count', 'py.tcp.counter', withDecrements(counterIncrements(300, 133))),
      ...gaugeOps('py.tcp.gauge', 200, 134),
    ];
    await driveClient(PYTHON_STATSD, hourglass.statsdPort, { transport: 'tcp', batched: false }, ops);
    await expectEveryKeyMatches(hourglass.httpPort, ops);
  });

  it('TCP pipeline (one write of many lines): timing and incr', async () => {
    const ops: ClientOp[] = [
      ...valueOps('timing', 'py.tcp.pipeline.timer', latenciesMs({ count: 1000, seed: 141, stepMs: 0.5 })),
      ...valueOps('count', 'py.tcp.pipeline.counter', counterIncrements(200, 142)),
    ];
    await driveClient(PYTHON_STATSD, hourglass.statsdPort, { transport: 'tcp', batched: true }, ops);
    await expectEveryKeyMatches(hourglass.httpPort, ops);
  });
});
