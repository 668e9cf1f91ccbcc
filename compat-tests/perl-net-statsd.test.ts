// Debian's libnet-statsd-perl (Net::Statsd 0.12): UDP only, one datagram per call.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { gaugeOps, valueOps, type ClientOp } from './client-ops.js';
import { driveClient, type ClientScript } from './client-process.js';
import { mixedCounterAmounts, latenciesMs } from './data-sets.js';
import { startHourglass, type HourglassUnderTest } from './embedded-hourglass.js';
import { expectEveryKeyMatches } from './stat-queries.js';
import { SYSTEM_INTERPRETERS } from './system.js';

const NET_STATSD: ClientScript = { debianPackage: 'libnet-statsd-perl', interpreter: SYSTEM_INTERPRETERS.perl, file: 'perl-net-statsd-client.pl' };

/** Net::Statsd::timing formats with `%d`: 12.75 ms goes out as `12|ms`. */
function perlWireValue(op: ClientOp): number {
  return op.kind === 'timing' ? Math.trunc(op.value) : op.value;
}

let hourglass: HourglassUnderTest;

beforeAll(async () => {
  hourglass = await startHourglass();
});

afterAll(async () => {
  await hourglass?.stop();
});


describe('libnet-statsd-perl', () => {
  it('UDP: timing (whole milliseconds), increment/decrement/update_stats, gauge', async () => {
    const ops: ClientOp[] = [
      ...valueOps('timing', 'pl.udp.timer', latenciesMs({ count: 900, seed: 301, stepMs: 0.25 })),
      ...valueOps('count', 'pl.udp.counter', mixedCounterAmounts(400, 302)),
      // Net::Statsd has no gauge-delta call: absolute gauges only.
      ...gaugeOps('pl.udp.gauge', 200, 303, false),
    ];
    await driveClient(NET_STATSD, hourglass.statsdPort, { transport: 'udp', batched: false }, ops);
    await expectEveryKeyMatches(hourglass.httpPort, ops, { wireValue: perlWireValue });
  });

  it('UDP: sampled timers and counters weigh 1/rate', async () => {
    const ops: ClientOp[] = [
      ...valueOps('timing', 'pl.udp.sampled.timer', latenciesMs({ count: 800, seed: 311, stepMs: 1 }), { rate: 0.5, keepEvery: 2 }),
      ...valueOps('timing', 'pl.udp.sampled.mixed', latenciesMs({ count: 301, seed: 312, stepMs: 1 })),
      ...valueOps('timing', 'pl.udp.sampled.mixed', latenciesMs({ count: 500, seed: 313, stepMs: 1, medianMs: 300 }), { rate: 0.1, keepEvery: 10 }),
      ...valueOps('count', 'pl.udp.sampled.counter', mixedCounterAmounts(400, 314), { rate: 0.25, keepEvery: 4 }),
    ];
    await driveClient(NET_STATSD, hourglass.statsdPort, { transport: 'udp', batched: false }, ops);
    await expectEveryKeyMatches(hourglass.httpPort, ops, { wireValue: perlWireValue });
  });
});
