// Debian's ruby-statsd (the statsd-ruby gem 1.4): UDP per call and in batches, TCP in one batch.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { expectedSamples, gaugeOps, valueOps, type ClientOp, type GaugeOp } from './client-ops.js';
import { driveClient, type ClientScript } from './client-process.js';
import { mixedCounterAmounts, latenciesMs } from './data-sets.js';
import { startHourglass, type HourglassUnderTest } from './embedded-hourglass.js';
import type { GaugeUpdate } from './expected-stats.js';
import { expectEveryKeyMatches, expectStatsMatch } from './stat-queries.js';
import { SYSTEM_INTERPRETERS } from './system.js';

const RUBY_STATSD: ClientScript = { debianPackage: 'ruby-statsd', interpreter: SYSTEM_INTERPRETERS.ruby, file: 'ruby-statsd-client.rb' };

let hourglass: HourglassUnderTest;

beforeAll(async () => {
  hourglass = await startHourglass();
});

afterAll(async () => {
  await hourglass?.stop();
});


describe('ruby-statsd', () => {
  it('UDP, one datagram per call: timing, increment/decrement/count, gauge', async () => {
    const ops: ClientOp[] = [
      ...valueOps('timing', 'rb.udp.timer', latenciesMs({ count: 800, seed: 201, stepMs: 0.5 })),
      ...valueOps('count', 'rb.udp.counter', mixedCounterAmounts(400, 202)),
      // statsd-ruby has no gauge-delta call: absolute gauges only.
      ...gaugeOps('rb.udp.gauge', 200, 203, false),
    ];
    await driveClient(RUBY_STATSD, hourglass.statsdPort, { transport: 'udp', batched: false }, ops);
    await expectEveryKeyMatches(hourglass.httpPort, ops);
  });

  it('UDP batch (10 lines per datagram): timing and count', async () => {
    const ops: ClientOp[] = [
      ...valueOps('timing', 'rb.udp.batch.timer', latenciesMs({ count: 1200, seed: 211, stepMs: 0.01 })),
      ...valueOps('count', 'rb.udp.batch.counter', mixedCounterAmounts(300, 212)),
    ];
    await driveClient(RUBY_STATSD, hourglass.statsdPort, { transport: 'udp', batched: true }, ops);
    await expectEveryKeyMatches(hourglass.httpPort, ops);
  });

  it('UDP: a negative gauge goes out as `-N|g`, which StatsD reads as a delta', async () => {
    const key = 'rb.udp.negative-gauge';
    const ops: ClientOp[] = [
      { kind: 'gauge', key, value: 10 },
      { kind: 'gauge', key, value: -4 },
      { kind: 'gauge', key, value: -1.5 },
      { kind: 'gauge', key, value: 3 },
    ];
    const wireGauge = (op: GaugeOp): GaugeUpdate[] => [op.value < 0 ? { delta: op.value } : { set: op.value }];
    await driveClient(RUBY_STATSD, hourglass.statsdPort, { transport: 'udp', batched: false }, ops);
    await expectStatsMatch(hourglass.httpPort, key, expectedSamples(ops, key, { wireGauge }));
  });

  it('UDP: sampled timers and counters weigh 1/rate', async () => {
    const ops: ClientOp[] = [
      ...valueOps('timing', 'rb.udp.sampled.timer', latenciesMs({ count: 700, seed: 221, stepMs: 0.5 }), { rate: 0.5, keepEvery: 2 }),
      ...valueOps('count', 'rb.udp.sampled.counter', mixedCounterAmounts(400, 222), { rate: 0.25, keepEvery: 4 }),
    ];
    await driveClient(RUBY_STATSD, hourglass.statsdPort, { transport: 'udp', batched: false }, ops);
    await expectEveryKeyMatches(hourglass.httpPort, ops);
  });

  // statsd-ruby 1.4 writes TCP messages without a newline, so separate calls run together
  // (`a:1|msa:2|ms`). One batch per connection is the only well-formed use: its lines are joined
  // by "\n" and the last one is ended by the client closing the connection.
  it('TCP, one batch per connection: timing (sampled too), count, gauge', async () => {
    const ops: ClientOp[] = [
      ...valueOps('timing', 'rb.tcp.timer', latenciesMs({ count: 1000, seed: 231, stepMs: 0.5 })),
      ...valueOps('timing', 'rb.tcp.sampled.timer', latenciesMs({ count: 300, seed: 232, stepMs: 0.5 }), { rate: 0.5, keepEvery: 2 }),
      ...valueOps('count', 'rb.tcp.counter', mixedCounterAmounts(200, 233)),
      ...gaugeOps('rb.tcp.gauge', 100, 234, false),
    ];
    await driveClient(RUBY_STATSD, hourglass.statsdPort, { transport: 'tcp', batched: true }, ops);
    await expectEveryKeyMatches(hourglass.httpPort, ops);
  });
});
