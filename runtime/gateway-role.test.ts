/**
 * The gateway role's link to NATS at the edges: a NATS that never answers (the gateway serves
 * into its spool and still shuts down), and a stream it must not touch (unhealthy, saying so).
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RetentionPolicy, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../test-support/eventually.js';
import { freePort, startNatsServer, type NatsServer } from '../test-support/servers.js';
import { parseConfig } from './config.js';
import { startGatewayRole } from './gateway-role.js';

const dirs: string[] = [];
let nats: NatsServer | undefined;
afterEach(async () => {
  await nats?.dispose();
  nats = undefined;
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function gatewayConfig(natsUrl: string, stream = 'HGGW') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-gw-role-'));
  dirs.push(dir);
  return parseConfig('gateway', { STATSD_ADDRESS: '127.0.0.1:0', HTTP_ADDRESS: '127.0.0.1:0', PROMETHEUS_ADDRESS: '127.0.0.1:0', DATA_DIR: dir, NATS_URL: natsUrl, NATS_STREAM: stream, NATS_PARTITIONS: '1', FLUSH_INTERVAL_MS: '100', LOG_LEVEL: 'silent' });
}

const metric = async (port: number, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())?.[1]);

describe('gateway role and NATS', () => {
  it('with NATS never reachable: StatsD lines go to the spool, and the gateway still shuts down', async () => {
    const gateway = await startGatewayRole(gatewayConfig(`nats://127.0.0.1:${await freePort()}`), pino({ level: 'silent' }));
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.send('api.checkout:118|ms', gateway.statsdPort, '127.0.0.1', () => resolve()));
    socket.close();
    await eventually(async () => ((await metric(gateway.httpPort, 'hourglass_spool_batches')) > 0 ? true : undefined), 'the batch spooled');
    expect((await fetch(`http://127.0.0.1:${gateway.httpPort}/healthz`)).status).toBe(200);
    await gateway.close();
  });

  it('a stream it must not change (work-queue retention holding batches): /healthz says unhealthy', async () => {
    nats = await startNatsServer();
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'HGOLD', subjects: ['HGOLD.>'], retention: RetentionPolicy.Workqueue });
    await nc.publish('HGOLD.batches.0', new Uint8Array([1]));
    await nc.flush();
    await nc.close();
    const gateway = await startGatewayRole(gatewayConfig(nats.url, 'HGOLD'), pino({ level: 'silent' }));
    await eventually(async () => ((await fetch(`http://127.0.0.1:${gateway.httpPort}/healthz`)).status !== 200 ? true : undefined), 'the gateway unhealthy');
    await gateway.close();
  });
});
