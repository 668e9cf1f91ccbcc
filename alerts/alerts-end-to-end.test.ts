/**
 * The alerts end to end, with nothing faked: the built Hourglass as child processes (the embedded
 * `all` role, and a distributed gateway on a real nats-server), the real Prometheus evaluating the
 * shipped rule files, the real Alertmanager with the shipped configuration, and a webhook served
 * here. Hourglass is made to misbehave (a flood of bad lines, a role killed, NATS down) and the
 * matching alerts must reach the webhook, with the shipped labels and annotations.
 *
 * What the test changes, and only that: every `for:` becomes 1s (withForDurations; a test cannot
 * wait 10 minutes), Alertmanager's group delays become 0s/1s and its webhook URL points here
 * (alertmanagerForTest), Prometheus scrapes and evaluates every 500 ms. The rules' expressions,
 * ranges and thresholds, and Alertmanager's routes and inhibit rule are the shipped ones.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, metricValue, sendUdp, startHourglass, type HourglassProcess } from '../test-support/hourglass-process.js';
import { recordingServer } from '../test-support/recording-server.js';
import { startAlertmanager, startNatsServer, startPrometheus, type Alertmanager, type NatsServer, type Prometheus } from '../test-support/servers.js';
import { ALERTMANAGER_CONFIG, alertmanagerForTest, ruleFiles, withForDurations } from './index.js';

const SCRAPE_AND_EVAL_MS = 500;
/** From misbehaviour to webhook: a scrape, two evaluations (for: 1s), a send, a group flush. */
const ALERT_DEADLINE_MS = 20_000;
const WEBHOOK_PATH = '/hourglass-alerts';

interface WebhookAlert {
  readonly status: 'firing' | 'resolved';
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

/** Alertmanager's webhook payload (version 4), the fields the test reads. */
interface Notification {
  readonly version: string;
  readonly receiver: string;
  readonly status: string;
  readonly alerts: WebhookAlert[];
}

let tmp: string;
let webhook: Awaited<ReturnType<typeof recordingServer>>;
let alertmanager: Alertmanager | undefined;
let prometheus: Prometheus | undefined;
let nats: NatsServer | undefined;
let all: HourglassProcess | undefined;
let gateway: HourglassProcess | undefined;

const instanceOf = (p: HourglassProcess) => `127.0.0.1:${p.httpPort}`;

function notifications(): Notification[] {
  return webhook.requests.filter((r) => r.url === WEBHOOK_PATH).map((r) => JSON.parse(r.body) as Notification);
}

const delivered = () => notifications().flatMap((n) => n.alerts);

/** Waits for `alertname` on `instance` to reach the webhook with `status`. */
function arrival(alertname: string, instance: string, status: 'firing' | 'resolved' = 'firing'): Promise<WebhookAlert> {
  return eventually(
    async () => delivered().find((a) => a.labels.alertname === alertname && a.labels.instance === instance && a.status === status),
    `${alertname} (${status}) for ${instance} at the webhook; delivered so far: ${JSON.stringify(delivered().map((a) => [a.labels.alertname, a.labels.instance, a.status]))}`,
    ALERT_DEADLINE_MS,
  );
}

interface PrometheusAlert {
  readonly labels: Record<string, string>;
  readonly state: 'pending' | 'firing';
}

async function prometheusAlerts(): Promise<PrometheusAlert[]> {
  const res = await fetch(`${prometheus?.url}/api/v1/alerts`);
  return ((await res.json()) as { data: { alerts: PrometheusAlert[] } }).data.alerts;
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-alerts-'));
  webhook = await recordingServer(() => ({ status: 200, body: '{}' }));

  const rulesDir = path.join(tmp, 'rules');
  fs.mkdirSync(rulesDir);
  const rules = ruleFiles().map((file) => {
    const { text, replaced } = withForDurations(fs.readFileSync(file, 'utf8'), '1s');
    if (replaced === 0) throw new Error(`${file} has no for: to shorten`);
    const copy = path.join(rulesDir, path.basename(file));
    fs.writeFileSync(copy, text);
    return copy;
  });
  const amConfig = alertmanagerForTest(fs.readFileSync(ALERTMANAGER_CONFIG, 'utf8'), { webhookUrl: `${webhook.url}${WEBHOOK_PATH}`, groupWait: '0s', groupInterval: '1s', repeatInterval: '1h' });

  [alertmanager, nats] = await Promise.all([startAlertmanager(amConfig), startNatsServer()]);
  // startHourglass puts every listener, the ingested-metrics exposition's included, on a free port
  [all, gateway] = await Promise.all([
    startHourglass('all', { DATA_DIR: path.join(tmp, 'all'), FLUSH_INTERVAL_MS: '200', LOG_LEVEL: 'info' }),
    startHourglass('gateway', {
      NATS_URL: nats.url,
      NATS_STREAM: 'ALERTS',
      NATS_PARTITIONS: '1',
      GATEWAY_ID: 'gateway-alerts',
      DATA_DIR: path.join(tmp, 'gateway'),
      FLUSH_INTERVAL_MS: '200',
      LOG_LEVEL: 'info',
    }),
  ]);
  const gw = gateway;
  // a gateway that has not connected yet would (rightly) fire HourglassNatsDisconnected
  await eventually(async () => ((await metricValue(gw.httpPort, /^hourglass_nats_connected (\S+)$/m)) === 1 ? true : undefined), 'the gateway to connect to NATS');

  prometheus = await startPrometheus([all, gateway].map(instanceOf), SCRAPE_AND_EVAL_MS, { ruleFiles: rules, alertmanager: alertmanager.address });
  const prom = prometheus;
  await eventually(async () => {
    const res = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent('up == 1')}`);
    return ((await res.json()) as { data: { result: unknown[] } }).data.result.length === 2 ? true : undefined;
  }, 'Prometheus to scrape both processes');
  await eventually(async () => {
    const res = await fetch(`${prom.url}/api/v1/alertmanagers`);
    return ((await res.json()) as { data: { activeAlertmanagers: unknown[] } }).data.activeAlertmanagers.length === 1 ? true : undefined;
  }, 'Prometheus to know its Alertmanager');
}, 90_000);

afterAll(async () => {
  await Promise.all([all?.stop('SIGKILL'), gateway?.stop('SIGKILL')]);
  await Promise.all([prometheus?.dispose(), alertmanager?.dispose(), nats?.dispose(), webhook?.close()]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('alerts from a misbehaving Hourglass reach the webhook through Prometheus and Alertmanager', () => {
  /** Every alert the webhook received before NATS came back (after it, a draining spool may legitimately alert). */
  let deliveredBeforeNatsReturned: WebhookAlert[] = [];

  it('a flood of bad StatsD lines: HourglassLinesRejected, per reason, with its share in the summary', async () => {
    const p = all as HourglassProcess;
    // 50 datagrams of 20 lines with a bad value and 1 good line: 1000 rejected of 1050
    const datagram = `${Array.from({ length: 20 }, (_, i) => `alerts.flood.${i}:abc|ms`).join('\n')}\nalerts.fine:1|c`;
    for (let i = 0; i < 50; i++) await sendUdp(p.statsdPort, datagram);
    await eventually(async () => ((await metricValue(p.httpPort, /^hourglass_lines_rejected_total\{reason="bad_value"\} (\S+)$/m)) === 1000 ? true : undefined), 'the 1000 bad lines to be counted');

    const alert = await arrival('HourglassLinesRejected', instanceOf(p));
    expect(alert.labels).toEqual({ alertname: 'HourglassLinesRejected', severity: 'warning', job: 'hourglass', instance: instanceOf(p), reason: 'bad_value' });
    // the share depends on where the rate windows fall; 1000 of 1050 lines were bad
    const share = /^([\d.]+)% of the StatsD lines at (\S+) are rejected \(bad_value\)$/.exec(alert.annotations.summary);
    expect(share?.[2]).toBe(instanceOf(p));
    expect(Number(share?.[1])).toBeCloseTo((100 * 1000) / 1050, 0);
    expect(alert.annotations.description).toContain('for reason bad_value');
    const n = notifications().find((x) => x.alerts.some((a) => a.labels.alertname === 'HourglassLinesRejected'));
    expect(n).toMatchObject({ version: '4', receiver: 'webhook', status: 'firing' });
  });

  it('a role killed: HourglassRoleDown, critical, through the critical route', async () => {
    const p = all as HourglassProcess;
    const instance = instanceOf(p);
    await p.stop('SIGKILL');
    const alert = await arrival('HourglassRoleDown', instance);
    expect(alert.labels).toEqual({ alertname: 'HourglassRoleDown', severity: 'critical', job: 'hourglass', instance });
    expect(alert.annotations.summary).toBe(`Hourglass hourglass at ${instance} is down`);
    // the gateway is up: no alert names it
    expect(delivered().filter((a) => a.labels.alertname === 'HourglassRoleDown').map((a) => a.labels.instance)).toEqual([instance]);
  });

  it('NATS down under a running gateway: HourglassNatsDisconnected; the growing spool is inhibited; NATS back resolves it', async () => {
    const p = gateway as HourglassProcess;
    const instance = instanceOf(p);
    await (nats as NatsServer).process.stop('SIGKILL');
    const alert = await arrival('HourglassNatsDisconnected', instance);
    expect(alert.labels).toEqual({ alertname: 'HourglassNatsDisconnected', severity: 'critical', job: 'hourglass', instance });
    expect(alert.annotations.summary).toBe(`${instance} (hourglass) has lost its NATS connection`);

    // Traffic now goes to the spool: Prometheus fires HourglassGatewaySpooling...
    await eventually(
      async () => {
        await sendUdp(p.statsdPort, 'alerts.spooled:1|c\nalerts.spooled.timer:12|ms');
        const firing = (await prometheusAlerts()).find((a) => a.labels.alertname === 'HourglassGatewaySpooling' && a.labels.instance === instance && a.state === 'firing');
        return firing;
      },
      'Prometheus to fire HourglassGatewaySpooling',
      ALERT_DEADLINE_MS,
    );
    expect(await metricValue(p.httpPort, /^hourglass_spool_bytes (\S+)$/m)).toBeGreaterThan(0);
    // ...and Alertmanager holds it back: HourglassNatsDisconnected on the same instance inhibits it
    const am = alertmanager as Alertmanager;
    const held = await eventually(
      async () => {
        const res = await fetch(`${am.url}/api/v2/alerts?filter=${encodeURIComponent('alertname="HourglassGatewaySpooling"')}`);
        const alerts = (await res.json()) as { labels: Record<string, string>; status: { state: string; inhibitedBy: string[] } }[];
        return alerts.find((a) => a.labels.instance === instance);
      },
      'Alertmanager to receive HourglassGatewaySpooling',
      ALERT_DEADLINE_MS,
    );
    expect(held.status.state).toBe('suppressed');
    expect(held.status.inhibitedBy.length).toBe(1);
    deliveredBeforeNatsReturned = delivered();
    expect(deliveredBeforeNatsReturned.map((a) => a.labels.alertname)).not.toContain('HourglassGatewaySpooling');

    // NATS back: the gateway reconnects and send_resolved reports the end
    await (nats as NatsServer).restart();
    const resolved = await arrival('HourglassNatsDisconnected', instance, 'resolved');
    expect(resolved.labels.severity).toBe('critical');
  });

  it('nothing else alerted: every delivery names a misbehaviour the test caused', () => {
    const caused = new Set([`HourglassLinesRejected ${instanceOf(all as HourglassProcess)}`, `HourglassRoleDown ${instanceOf(all as HourglassProcess)}`, `HourglassNatsDisconnected ${instanceOf(gateway as HourglassProcess)}`]);
    expect(deliveredBeforeNatsReturned.length).toBeGreaterThanOrEqual(3);
    for (const a of deliveredBeforeNatsReturned) expect(caused, JSON.stringify(a.labels)).toContain(`${a.labels.alertname} ${a.labels.instance}`);
  });
});
