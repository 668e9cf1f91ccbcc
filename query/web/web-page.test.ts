/**
 * The web page in a real browser (Debian's Chromium through playwright-core) against a real
 * embedded Hourglass fed by StatsD over UDP: the keys list, the values charted against the API's
 * answers, the live open hour, tag narrowing, the pipeline's health, a phone screen, and the
 * messages for an unknown key and a store that is down. Screenshots go to test-artifacts/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHourglass, type HourglassUnderTest } from '../../compat-tests/embedded-hourglass.js';
import { Registry } from 'prom-client';
import { StoreUnavailableError, type RollupReader } from '../../store/index.js';
import { startChromium, type Chromium } from '../../test-support/chromium.js';
import { eventually } from '../../test-support/eventually.js';
import { sendUdp } from '../../test-support/hourglass-process.js';
import { seededRandom } from '../../test-support/random.js';
import { buildQueryApp, createQueryMetrics } from '../index.js';

// The callbacks given to page.evaluate/waitForFunction run in the browser; these names are the
// browser's. Declared here rather than by adding the DOM library to the whole (Node) program.
declare const document: any;
declare const window: { innerWidth: number };

const ARTIFACTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-artifacts');
const STATS = ['average', 'median', 'p90', 'p99', 'min', 'max'] as const;
/** The embedded Hourglass's clock stands at 2026-11-22 21:30 UTC: hour 21 is open. */
const H21 = Date.UTC(2026, 10, 22, 21) / 1000;
const DAYS = ['2026-11-20', '2026-11-21', '2026-11-22'];

interface DayAnswer {
  hours: { hour: number; value: number; count: number; exact: boolean; complete: boolean }[];
}

let hourglass: HourglassUnderTest;
let browser: Chromium;
let base: string;
/** Every URL the browser asked for: the page must need nothing but Hourglass. */
const requested: string[] = [];

async function api(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${url}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** What the API says for every hour of the days shown: hourSec -> stat -> value, and count. */
async function expectedHours(key: string, query = ''): Promise<Map<number, Record<string, number>>> {
  const out = new Map<number, Record<string, number>>();
  for (const day of DAYS) {
    for (const stat of STATS) {
      const { status, body } = await api(`/${encodeURIComponent(key)}/${stat}/${day}${query}`);
      if (status === 404) continue;
      expect(status).toBe(200);
      for (const h of (body as unknown as DayAnswer).hours) {
        const sec = Date.parse(`${day}T00:00:00Z`) / 1000 + h.hour * 3600;
        out.set(sec, { ...out.get(sec), [stat]: h.value, count: h.count });
      }
    }
  }
  return out;
}

/** What the page's table shows: hourSec -> stat -> the number behind each cell. */
async function shownHours(page: Page): Promise<Map<number, Record<string, number>>> {
  const rows = await page.$$eval('#hours tbody tr', (trs) =>
    trs.map((tr) => [Number(tr.getAttribute('data-hour-sec')), Object.fromEntries(Array.from(tr.querySelectorAll('td[data-stat]'), (td: typeof tr) => [td.getAttribute('data-stat'), Number(td.getAttribute('data-value'))]))] as const),
  );
  return new Map(rows);
}

async function newPage(): Promise<Page> {
  const page = await browser.context.newPage();
  page.on('request', (r) => requested.push(r.url()));
  return page;
}

const shot = (page: Page, name: string, fullPage = true) => page.screenshot({ path: path.join(ARTIFACTS, name), fullPage });

beforeAll(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  hourglass = await startHourglass();
  base = `http://127.0.0.1:${hourglass.httpPort}`;
  const lines = [
    ...[100, 200, 300].map((v) => `api.checkout:${v}|ms|#route:cart|T${H21 - 7200 + 60}`),
    ...[50, 150].map((v) => `api.checkout:${v}|ms|#route:pay|T${H21 - 3600 + 60}`),
    ...[118, 120.5, 99, 300, 42].map((v, i) => `api.checkout:${v}|ms|#route:${i % 2 ? 'pay' : 'cart'}`),
    `api.checkout:500|ms|T${H21 - 35 * 3600}`,
    'api.cart:1|c',
    'users:alice|s',
    'db.query:5|ms|#env:prod',
    'a bad line without a type',
  ];
  await sendUdp(hourglass.statsdPort, lines.join('\n'));
  // web.latency: two days of a daily rhythm with a slow tail, for a chart that looks like one
  const random = seededRandom(9);
  for (let h = 45; h >= 0; h--) {
    const values = Array.from({ length: 40 }, () => (80 + 40 * Math.sin(((H21 / 3600 - h) * Math.PI) / 12) + 30 * random() + (random() < 0.05 ? 300 * random() : 0)).toFixed(1));
    await sendUdp(hourglass.statsdPort, values.map((v) => `web.latency:${v}|ms|#route:${random() < 0.5 ? 'pay' : 'cart'}|T${H21 - h * 3600 + 60}`).join('\n'));
  }
  await eventually(async () => {
    await hourglass.running.flush();
    const { body } = await api('/api.checkout/count/2026-11-22/21');
    return body.value === 5 ? true : undefined;
  }, 'the samples to reach the store');
  // a zone far from UTC: the page must show UTC hours and the server's day whatever the browser's zone
  browser = await startChromium({ timezoneId: 'Pacific/Kiritimati' });
});

afterAll(async () => {
  await browser?.close();
  await hourglass?.stop();
});

describe('the web page at /', () => {
  it('is HTML for browsers, with everything it needs served by Hourglass', async () => {
    const res = await fetch(`${base}/`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'.*connect-src 'self'/);
    const html = await res.text();
    for (const src of html.matchAll(/(?:src|href)="([^"]+)"/g)) {
      expect(src[1]).toMatch(/^\/-\/web\//);
      expect((await fetch(`${base}${src[1]}`)).status).toBe(200);
    }
  });

  it('lists the keys the API lists, and charts the values the API answers', async () => {
    const page = await newPage();
    await page.goto(`${base}/`);
    const { body: keys } = await api('/-/keys?limit=200');
    const expectedKeys = (keys.keys as { key: string }[]).map((k) => k.key);
    expect(expectedKeys).toEqual(['api.cart', 'api.checkout', 'db.query', 'users', 'web.latency']);
    // (big.key arrives in a later test)
    await page.waitForFunction((n) => document.querySelectorAll('#key-list button').length === n, expectedKeys.length);
    expect(await page.$$eval('#key-list button', (bs) => bs.map((b) => b.getAttribute('data-key')))).toEqual(expectedKeys);

    await page.fill('#key-search', 'api.c');
    await page.waitForFunction(() => document.querySelectorAll('#key-list button').length === 2);
    await page.click('#key-list button[data-key="api.checkout"]');
    const expected = await expectedHours('api.checkout');
    expect(expected.size).toBe(4);
    await page.waitForFunction((n) => document.querySelectorAll('#hours tbody tr').length === n, expected.size);
    expect(await shownHours(page)).toEqual(expected);

    // the chart's own data: every hour from the first to the last, null where an hour has no data
    const plotted = JSON.parse((await page.getAttribute('#chart-values', 'data-plotted')) ?? '{}') as Record<string, (number | null)[]>;
    const first = Math.min(...expected.keys());
    expect(plotted.x).toEqual(Array.from({ length: (H21 - first) / 3600 + 1 }, (_, i) => first + i * 3600));
    for (const stat of [...STATS, 'count']) {
      expect(plotted[stat]).toEqual(plotted.x.map((x) => expected.get(x as number)?.[stat] ?? null));
    }
    expect(await page.locator('#chart-values canvas').count()).toBeGreaterThan(0);
    expect(await page.locator('#chart-count canvas').count()).toBeGreaterThan(0);
    // the open hour says so; closed hours are complete, as the API says
    expect(await page.textContent(`#hours tr[data-hour-sec="${H21}"]`)).toMatch(/open \(live\)/);
    expect(await page.textContent(`#hours tr[data-hour-sec="${H21 - 3600}"]`)).toMatch(/complete/);
    expect(await page.isHidden('#message')).toBe(true);
    expect(await page.isHidden('#type-field')).toBe(true);

    // the page asked nothing of any other host
    expect(requested.length).toBeGreaterThan(0);
    for (const url of requested) expect(new URL(url).origin).toBe(base);
    await page.close();
  });

  it('charts two days of a busier key as the API answers them', async () => {
    const page = await newPage();
    await page.goto(`${base}/#key=web.latency&end=2026-11-22&days=2`);
    const expected = await expectedHours('web.latency');
    expect(expected.size).toBe(46);
    await page.waitForFunction((n) => document.querySelectorAll('#hours tbody tr').length === n, expected.size);
    expect(await shownHours(page)).toEqual(expected);
    const plotted = JSON.parse((await page.getAttribute('#chart-values', 'data-plotted')) ?? '{}') as Record<string, (number | null)[]>;
    expect(plotted.p99).toEqual(plotted.x.map((x) => expected.get(x as number)?.p99 ?? null));
    await shot(page, 'web-page-desktop.png', false);
    await page.close();
  });

  it('marks the hours whose percentiles are estimated (over 10,000 samples)', async () => {
    const random = seededRandom(11);
    const values = Array.from({ length: 10_050 }, () => (1 + 999 * random()).toFixed(2));
    for (let i = 0; i < values.length; i += 100) await sendUdp(hourglass.statsdPort, values.slice(i, i + 100).map((v) => `big.key:${v}|ms`).join('\n'));
    await eventually(async () => {
      await hourglass.running.flush();
      return (await api('/big.key/count/2026-11-22/21')).body.value === values.length ? true : undefined;
    }, 'the 10,050 samples of big.key to reach the store');
    const { body } = await api('/big.key/median/2026-11-22');
    const hour = (body as unknown as DayAnswer).hours[0];
    expect(hour).toMatchObject({ hour: 21, exact: false });
    const page = await newPage();
    await page.goto(`${base}/#key=big.key&end=2026-11-22&days=1`);
    const row = `#hours tr[data-hour-sec="${H21}"]`;
    await page.waitForSelector(`${row} td[data-stat="count"][data-value="${values.length}"]`);
    expect(await page.textContent(row)).toMatch(/open \(live\), estimated/);
    expect(await page.textContent(`${row} td[data-stat="median"]`)).toMatch(/^≈/);
    expect(await page.textContent(`${row} td[data-stat="max"]`)).not.toMatch(/^≈/);
    expect(Number(await page.getAttribute(`${row} td[data-stat="median"]`, 'data-value'))).toBe(hour.value);
    await page.close();
  });

  it('updates the open hour live when new samples arrive', async () => {
    const page = await newPage();
    await page.goto(`${base}/#key=api.checkout&end=2026-11-22&days=1`);
    await page.waitForSelector(`#hours tr[data-hour-sec="${H21}"] td[data-stat="count"][data-value="5"]`);
    await sendUdp(hourglass.statsdPort, 'api.checkout:1000|ms|#route:pay\napi.checkout:7|ms|#route:cart');
    await hourglass.running.flush();
    const cell = (stat: string) => `#hours tr[data-hour-sec="${H21}"] td[data-stat="${stat}"]`;
    // within SPEC §6's 5 s, without reloading the page
    await page.waitForSelector(`${cell('count')}[data-value="7"]`, { timeout: 5000 });
    const now = (await expectedHours('api.checkout')).get(H21)!;
    expect(now).toMatchObject({ count: 7, max: 1000, min: 7 });
    expect((await shownHours(page)).get(H21)).toEqual(now);
    await page.close();
  });

  it('a set shows its distinct members per hour', async () => {
    const page = await newPage();
    await page.goto(`${base}/#key=users&end=2026-11-22&days=1`);
    const { body } = await api('/users/count/2026-11-22');
    const [hour] = (body as unknown as DayAnswer).hours;
    expect(hour).toMatchObject({ hour: 21, value: 1 });
    await page.waitForSelector(`#hours tr[data-hour-sec="${H21}"] td[data-stat="count"][data-value="${hour.count}"]`);
    expect(await page.isHidden('#message')).toBe(true);
    await page.close();
  });

  it('narrows to a tag set', async () => {
    const page = await newPage();
    await page.goto(`${base}/#key=api.checkout&end=2026-11-22&days=3`);
    await page.waitForSelector('#hours tbody tr');
    await page.fill('#tags', 'route:pay');
    await page.dispatchEvent('#tags', 'change');
    const expected = await expectedHours('api.checkout', '?tag=route:pay');
    expect(expected.size).toBe(2);
    await page.waitForFunction((n) => document.querySelectorAll('#hours tbody tr').length === n, expected.size);
    expect(await shownHours(page)).toEqual(expected);
    await page.close();
  });

  it('shows the pipeline health from /metrics: lines/s, rejected lines by reason, UDP drops', async () => {
    const page = await newPage();
    await page.goto(`${base}/`);
    await page.waitForSelector('#health:not([hidden])');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const reasons = [...metrics.matchAll(/^hourglass_lines_rejected_total\{reason="([^"]+)"\} ([1-9]\d*)/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(reasons.length).toBeGreaterThan(0);
    await page.waitForFunction((text) => document.getElementById('rejected')?.textContent === text, reasons.join(', '));
    expect(await page.textContent('#udp-drops')).toBe(/^hourglass_udp_receive_drops_total (\d+)/m.exec(metrics)?.[1]);
    await page.waitForFunction(() => /^\d/.test(document.getElementById('lines-rate')?.textContent ?? ''));
    await page.close();
  });

  it('fits a phone screen', async () => {
    const page = await newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${base}/#key=api.checkout&end=2026-11-22&days=3`);
    await page.waitForSelector('#chart-values canvas');
    const widths = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, view: window.innerWidth, chart: document.querySelector('#chart-values .uplot')!.getBoundingClientRect().width }));
    expect(widths.page).toBeLessThanOrEqual(widths.view);
    expect(widths.chart).toBeLessThanOrEqual(widths.view);
    await shot(page, 'web-page-phone.png');
    await page.close();
  });

  it('says so clearly when a key has no data: the API detail', async () => {
    const page = await newPage();
    await page.goto(`${base}/#key=nothing.here&end=2026-11-22&days=1`);
    const { status, body } = await api('/nothing.here/average/2026-11-22');
    expect(status).toBe(404);
    await page.waitForSelector('#message:not([hidden])');
    expect(await page.textContent('#message')).toContain(body.detail as string);
    await shot(page, 'web-page-unknown-key.png');
    await page.close();
  });
});

describe('the web page while the store is down', () => {
  it('shows the 503 detail, for the keys and for a chart', async () => {
    const unreachable = async (): Promise<never> => {
      throw new StoreUnavailableError('SQLite read failed: disk I/O error');
    };
    const reader: RollupReader = { rows: unreachable, chunks: unreachable, rowsOfDay: unreachable, keys: unreachable, close: async () => undefined };
    const app = buildQueryApp({ reader, clock: hourglass.clock, metrics: createQueryMetrics(new Registry()), flushIntervalMs: 100, maxKeyBytes: 200 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const address = app.server.address() as { port: number };
      const down = `http://127.0.0.1:${address.port}`;
      const answer = await fetch(`${down}/api.checkout/average/2026-11-22`);
      expect(answer.status).toBe(503);
      const detail = ((await answer.json()) as { detail: string }).detail;
      const page = await browser.context.newPage();
      await page.goto(`${down}/#key=api.checkout&end=2026-11-22&days=1`);
      await page.waitForSelector('#message:not([hidden])');
      expect(await page.textContent('#message')).toBe(`The store is unavailable: ${detail}`);
      await page.waitForFunction(() => (document.getElementById('keys-note')?.textContent ?? '') !== '');
      expect(await page.textContent('#keys-note')).toContain('disk I/O error');
      await shot(page, 'web-page-store-down.png');
      await page.close();
    } finally {
      await app.close();
    }
  });
});
