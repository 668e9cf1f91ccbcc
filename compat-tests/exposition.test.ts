// The statsd_exporter drop-in (SPEC §6) end to end: hot-shots sends every type and every tag
// style to an embedded Hourglass; its exposition is read back, checked by promtool, and scraped
// by a real Prometheus that answers PromQL with the values sent.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StatsD, type ClientOptions } from 'hot-shots';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startPrometheus, type Prometheus } from '../test-support/servers.js';
import { startHourglass, type HourglassUnderTest } from './embedded-hourglass.js';

const MAPPING = `
mappings:
  - match: "compat.hist.*"
    name: "compat_hist_seconds"
    observer_type: histogram
    histogram_options:
      buckets: [0.05, 0.1, 0.5]
    labels:
      route: "$1"
  - match: "compat.noise.*"
    action: drop
`;

let hourglass: HourglassUnderTest;
let dir: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-exposition-'));
  fs.writeFileSync(path.join(dir, 'mapping.yml'), MAPPING);
  hourglass = await startHourglass({ STATSD_MAPPING_CONFIG: path.join(dir, 'mapping.yml') });
});

afterAll(async () => {
  await hourglass?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function send(options: ClientOptions, use: (client: StatsD) => void): Promise<void> {
  const errors: Error[] = [];
  const client = new StatsD({ host: '127.0.0.1', port: hourglass.statsdPort, errorHandler: (err) => errors.push(err), ...options });
  // hot-shots samples with Math.random() < rate: keep every sampled call
  const random = vi.spyOn(Math, 'random').mockReturnValue(0);
  try {
    use(client);
  } finally {
    random.mockRestore();
  }
  await new Promise<void>((resolve, reject) => client.close((err) => (err ? reject(err) : resolve())));
  expect(errors).toEqual([]);
}

const scrape = async () => (await fetch(`http://127.0.0.1:${hourglass.prometheusPort}/metrics`)).text();

/** `name{labels}` -> value, from the text format. */
function values(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([^#\s][^\s]*(?:\{.*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What was sent, as Prometheus should see it. */
const EXPECTED: [series: string, value: number][] = [
  ['compat_hits{env="prod"}', 3 / 0.5 + 1],
  ['compat_temp{env="prod"}', 20 - 5],
  ['compat_latency_sum{route="a"}', 0.25 + 0.75],
  ['compat_latency_count{route="a"}', 2],
  ['compat_hist_seconds_bucket{route="checkout",le="0.05"}', 1],
  ['compat_hist_seconds_bucket{route="checkout",le="0.1"}', 2],
  ['compat_hist_seconds_bucket{route="checkout",le="+Inf"}', 3],
  ['compat_hist_seconds_sum{route="checkout"}', 0.02 + 0.07 + 0.9],
  ['compat_size_sum', 1024 + 2048],
  ['compat_size_count', 2],
  ['compat_styled{env="prod",route="x"}', 1 + 2 + 3 + 4],
];

describe('hot-shots into the exposition', () => {
  beforeAll(async () => {
    await send({}, (c) => {
      c.increment('compat.hits', 3, 0.5, { env: 'prod' });
      c.increment('compat.hits', 1, ['env:prod']);
      c.gauge('compat.temp', 20, { env: 'prod' });
      c.gaugeDelta('compat.temp', -5, { env: 'prod' });
      c.timing('compat.latency', 250, { route: 'a' });
      c.timing('compat.latency', 750, { route: 'a' });
      c.histogram('compat.hist.checkout', 0.02);
      c.histogram('compat.hist.checkout', 0.07);
      c.histogram('compat.hist.checkout', 0.9);
      c.distribution('compat.size', 1024);
      c.distribution('compat.size', 2048);
      c.set('compat.users', 'alice');
      c.increment('compat.noise.a', 1);
      // every tag style names one series
      c.increment('compat.styled', 1, { env: 'prod', route: 'x' });
      c.increment('compat.styled#env=prod,route=x', 2);
      c.increment('compat.styled[route=x,env=prod]', 3);
      // a line mixing styles is rejected
      c.increment('compat.mixed,env=prod', 1, { route: 'x' });
    });
    // hot-shots' telegraf mode writes InfluxDB-style tags
    await send({ telegraf: true }, (c) => c.increment('compat.styled', 4, { route: 'x', env: 'prod' }));
    await until(async () => values(await scrape()).get('compat_styled{env="prod",route="x"}') === 10, 'every sample exposed');
  });

  it('exposes every type and tag style as statsd_exporter would', async () => {
    const text = await scrape();
    const got = values(text);
    for (const [series, value] of EXPECTED) expect(got.get(series), series).toBeCloseTo(value, 9);
    expect(text).toMatch(/^# TYPE compat_latency summary$/m);
    expect(text).toMatch(/^# TYPE compat_hist_seconds histogram$/m);
    expect(text).toMatch(/^compat_latency\{route="a",quantile="0.5"\} /m);
    expect(text).not.toMatch(/compat_users|compat_noise|compat_mixed/);
  });

  it('passes promtool check metrics', async () => {
    const text = await scrape();
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (r.error) throw new Error(`promtool is missing (Debian package prometheus): ${r.error.message}`);
    // promtool exits 0 when clean; lint findings (such as counters without _total, which
    // statsd_exporter names the same way) print and exit 3; a parse error exits 1
    const problems = `${r.stdout}${r.stderr}`
      .split('\n')
      .filter((l) => l.trim() !== '' && !/counter metrics should have "_total" suffix|no help text/.test(l));
    expect(problems).toEqual([]);
    expect(r.status === 0 || r.status === 3).toBe(true);
  });

  describe('a real Prometheus scraping it', () => {
    let prometheus: Prometheus;
    beforeAll(async () => {
      prometheus = await startPrometheus([`127.0.0.1:${hourglass.prometheusPort}`], 500);
    });
    afterAll(async () => {
      await prometheus?.dispose();
    });

    const query = async (promql: string): Promise<number | undefined> => {
      const res = await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
      const r = body.data.result;
      return r.length === 1 ? Number(r[0].value[1]) : undefined;
    };

    it('answers PromQL with the values sent', async () => {
      await until(async () => (await query('up{job="hourglass"}')) === 1 && (await query('compat_hits')) !== undefined, 'a scrape', 30_000);
      expect(await query('compat_hits{env="prod"}')).toBe(7);
      expect(await query('compat_temp')).toBe(15);
      expect(await query('compat_latency_sum / compat_latency_count')).toBeCloseTo(0.5, 9);
      expect(await query('sum(compat_styled)')).toBe(10);
      expect(await query('histogram_quantile(0.5, compat_hist_seconds_bucket)')).toBeCloseTo(0.075, 9);
    });
  });
});
