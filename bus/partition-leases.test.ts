/**
 * The partition leases against a real nats-server: workers share the partitions, a joining worker
 * takes its share, a worker cut off from NATS stops writing before another is granted its
 * partitions, and one that leaves hands them over at once. "Writing" is the interval between the
 * handler's acquired() and release()/lost(): two of those never overlap for one partition.
 */
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../test-support/eventually.js';
import { startNatsServer, type NatsServer } from '../test-support/servers.js';
import { createLeaseMetrics, type LeaseMetrics } from './metrics.js';
import { PartitionLeases, leaseBucket } from './partition-leases.js';

const PARTITIONS = 6;
const TTL_MS = 3000;
const monotonic = { nowMs: () => performance.now() };

let nats: NatsServer;
let streams = 0;

/** Who writes each partition, as the handlers say, and every overlap seen. */
class Ledger {
  readonly writer = new Map<number, string>();
  readonly overlaps: string[] = [];
  readonly acquiredAt = new Map<string, number>();

  start(worker: string, p: number): void {
    const current = this.writer.get(p);
    if (current !== undefined && current !== worker) this.overlaps.push(`partition ${p}: ${worker} started while ${current} was writing`);
    this.writer.set(p, worker);
    this.acquiredAt.set(`${worker}/${p}`, performance.now());
  }
  end(worker: string, p: number): void {
    if (this.writer.get(p) === worker) this.writer.delete(p);
  }
  countOf(worker: string): number {
    return [...this.writer.values()].filter((w) => w === worker).length;
  }
}

interface Worker {
  readonly id: string;
  readonly nc: NatsConnection;
  readonly leases: PartitionLeases;
  readonly metrics: LeaseMetrics;
  readonly registry: Registry;
}

async function startWorker(id: string, stream: string, ledger: Ledger): Promise<Worker> {
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: 0 });
  const registry = new Registry();
  const metrics = createLeaseMetrics(registry);
  const leases = new PartitionLeases(jetstream(nc), {
    stream,
    partitions: PARTITIONS,
    ttlMs: TTL_MS,
    replicas: 1,
    workerId: id,
    clock: monotonic,
    metrics,
    logger: pino({ level: 'silent' }),
    handler: {
      async acquired(p) {
        ledger.start(id, p);
      },
      async release(p) {
        ledger.end(id, p);
      },
      lost(p) {
        ledger.end(id, p);
      },
    },
  });
  await leases.start();
  return { id, nc, leases, metrics, registry };
}

const metricOf = async (w: Worker, name: string) => (await w.registry.getSingleMetricAsString(name));

beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.dispose();
});

describe('partition leases in a NATS key-value bucket', () => {
  it('workers share the partitions within one; a joining worker takes its share; a leaving one hands over at once', async () => {
    const stream = `LEASES${streams++}`;
    const ledger = new Ledger();
    const a = await startWorker('a', stream, ledger);
    await eventually(async () => (ledger.countOf('a') === PARTITIONS ? true : undefined), 'a alone to take every partition');
    const b = await startWorker('b', stream, ledger);
    const c = await startWorker('c', stream, ledger);
    await eventually(async () => (['a', 'b', 'c'].every((w) => ledger.countOf(w) === 2) ? true : undefined), 'a, b and c to hold 2 each', 15_000);
    expect(a.leases.owned()).toHaveLength(2);
    expect(await metricOf(a, 'hourglass_rollup_partitions_owned')).toMatch(/ 2$/m);
    // a gave back at least the 4 it held beyond its share
    expect(Number(/direction="released"} (\d+)$/m.exec(await metricOf(a, 'hourglass_rollup_handovers_total'))?.[1])).toBeGreaterThanOrEqual(4);
    const left = performance.now();
    await c.leases.stop();
    await eventually(async () => (ledger.countOf('a') === 3 && ledger.countOf('b') === 3 ? true : undefined), 'a and b to take c\'s partitions', 15_000);
    // graceful: the leases were deleted, not left to expire
    expect(performance.now() - left).toBeLessThan(TTL_MS);
    expect(ledger.overlaps).toEqual([]);
    // the presence of c is gone; a and b are still announced
    const kv = await new Kvm(a.nc).open(leaseBucket(stream));
    const keys: string[] = [];
    for await (const k of await kv.keys('worker.>')) keys.push(k);
    expect(keys.sort()).toEqual(['worker.a', 'worker.b']);
    for (const w of [a, b]) await w.leases.stop();
    for (const w of [a, b, c]) await w.nc.close();
  }, 60_000);

  it('a worker cut off from NATS stops writing before its partitions go to the others, which take them within the TTL and a round', async () => {
    const stream = `LEASES${streams++}`;
    const ledger = new Ledger();
    const a = await startWorker('a', stream, ledger);
    const b = await startWorker('b', stream, ledger);
    await eventually(async () => (ledger.countOf('a') === 3 && ledger.countOf('b') === 3 ? true : undefined), 'a and b to hold 3 each', 15_000);
    const held = b.leases.owned();
    const cutAt = performance.now();
    await b.nc.close(); // b keeps running, but can no longer renew
    await eventually(async () => (ledger.countOf('b') === 0 ? true : undefined), 'b to stop writing', 10_000);
    const fencedAfter = performance.now() - cutAt;
    await eventually(async () => (ledger.countOf('a') === PARTITIONS ? true : undefined), 'a to take b\'s partitions', 20_000);
    const takenAfter = Math.max(...held.map((p) => (ledger.acquiredAt.get(`a/${p}`) as number) - cutAt));
    // b fenced itself before the TTL; a could only take them after expiry, so never both at once
    expect(fencedAfter).toBeLessThan(TTL_MS);
    expect(takenAfter).toBeGreaterThan(fencedAfter);
    expect(takenAfter).toBeLessThan(TTL_MS * 1.5);
    expect(ledger.overlaps).toEqual([]);
    expect(await metricOf(b, 'hourglass_rollup_handovers_total')).toMatch(/direction="lost"} 3$/m);
    expect(await metricOf(b, 'hourglass_rollup_lease_renew_failures_total')).not.toMatch(/ 0$/m);
    await a.leases.stop();
    await b.leases.stop();
    await a.nc.close();
  }, 60_000);

  it('a lease renewed by its holder cannot be created by another, and a stale revision cannot renew it', async () => {
    const stream = `LEASES${streams++}`;
    const nc = await connect({ servers: nats.url });
    const kv = await new Kvm(nc).create(leaseBucket(stream), { ttl: TTL_MS, history: 1 });
    const first = await kv.create('partition.0', 'a');
    const second = await kv.update('partition.0', 'a', first);
    await expect(kv.create('partition.0', 'b')).rejects.toThrow();
    await expect(kv.update('partition.0', 'b', first)).rejects.toThrow();
    expect((await kv.get('partition.0'))?.revision).toBe(second);
    await nc.close();
  });
});
