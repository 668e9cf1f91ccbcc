import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { startAlertmanager, startInfluxd, startNatsServer, startPrometheus, type Alertmanager, type Influxd, type NatsServer, type Prometheus } from './servers.js';

const pidAlive = (pid: number | undefined) => {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The INFO line a NATS server greets every client with. */
async function infoOf(port: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('data', (d) => {
      socket.destroy();
      resolve(JSON.parse(d.toString().replace(/^INFO /, '')) as Record<string, unknown>);
    });
    socket.once('error', reject);
  });
}

describe('test servers', () => {
  let nats: NatsServer | undefined;
  let influx: Influxd | undefined;
  let prom: Prometheus | undefined;
  let am: Alertmanager | undefined;
  afterAll(async () => {
    await Promise.all([nats?.dispose(), influx?.dispose(), prom?.dispose(), am?.dispose()]);
  });

  it('nats-server starts with JetStream, survives SIGKILL by restarting on its port', async () => {
    nats = await startNatsServer();
    expect(await infoOf(nats.port)).toMatchObject({ jetstream: true, host: '127.0.0.1', port: nats.port });
    const pid = nats.process.pid;
    await nats.process.stop('SIGKILL');
    expect(pidAlive(pid)).toBe(false);
    await nats.restart();
    expect(nats.process.pid).not.toBe(pid);
    expect(pidAlive(nats.process.pid)).toBe(true);
  });

  it('influxd answers /ping and InfluxQL on its own port', async () => {
    influx = await startInfluxd();
    const res = await fetch(`${influx.url}/query?q=${encodeURIComponent('SHOW DATABASES')}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toHaveProperty('results');
  });

  it('alertmanager answers on its own port, clustering off, and stops by PID', async () => {
    am = await startAlertmanager("route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n");
    const status = (await (await fetch(`${am.url}/api/v2/status`)).json()) as { cluster: { status: string } };
    expect(status.cluster.status).toBe('disabled');
    const pid = am.process.pid;
    await am.process.stop();
    expect(pidAlive(pid)).toBe(false);
  });

  it('prometheus scrapes a target', async () => {
    prom = await startPrometheus(['127.0.0.1:1']);
    const res = await fetch(`${prom.url}/api/v1/query?query=up`);
    expect(((await res.json()) as { status: string }).status).toBe('success');
  });
});
