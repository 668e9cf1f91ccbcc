/**
 * rollup_stats through InfluxDB (line protocol in, InfluxQL out) against real influxd: the same
 * StatsD input and restarts give the same statistics as over SQLite (which rollup/ checks against
 * the query API's merge), whatever the name; a name-hour point has no tagset tag, so InfluxQL's
 * `"tagset" = ''` (what the dashboard uses) selects exactly those.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/index.js';
import { Rollup, SeriesBudget } from '../rollup/index.js';
import { batchOf } from '../test-support/batches.js';
import { startInfluxd, type Influxd } from '../test-support/servers.js';
import { influxQl, v1Target } from './influx-http.js';
import { STATS_MEASUREMENT, encodeTagValue, rfc3339Ns, statsFromRecord, statsLine } from './influx-line-protocol.js';
import { openInfluxStore } from './influx-store.js';
import type { RollupStore, StatsRow } from './schema.js';
import { SqliteStore, openDatabase } from './sqlite-store.js';

const H = Date.UTC(2026, 10, 22, 21) / 1000;
let influx: Influxd;

beforeAll(async () => {
  influx = await startInfluxd();
});
afterAll(async () => {
  await influx?.dispose();
});

const settings = { url: '', api: 'v1' as const, token: undefined, org: undefined, bucket: undefined, database: 'hg_stats' };
const sortStats = (rows: StatsRow[]) => rows.map(({ updatedMs: _, ...rest }) => rest).sort((a, b) => `${a.family}${a.tags}${a.type}`.localeCompare(`${b.family}${b.tags}${b.type}`));

describe('rollup_stats in InfluxDB', () => {
  it('writes the documented line protocol: a name-hour without tagset and type tags', () => {
    const base = { name: 'a b', hourSec: H, family: 'value', writer: 'p0', count: 2, n: 2, sum: 3, average: 1.5, min: 1, max: 2, median: 1.5, p90: 2, p95: 2, p99: 2, exact: true, relativeError: NaN, updatedMs: 7 } as const;
    expect(statsLine({ ...base, tags: null, type: null })).toBe(
      `rollup_stats,family=value,name=a\\ b,writer=p0 count=2,n=2,sum=3,average=1.5,min=1,max=2,median=1.5,p90=2,p95=2,p99=2,exact=true,updated_ms=7i ${H}000000000`,
    );
    expect(statsLine({ ...base, tags: '', type: 'ms', min: Infinity, median: NaN })).toBe(
      `rollup_stats,family=value,name=a\\ b,tagset=%none,type=ms,writer=p0 count=2,n=2,sum=3,average=1.5,max=2,p90=2,p95=2,p99=2,exact=true,updated_ms=7i ${H}000000000`,
    );
  });

  it('equal over InfluxDB and SQLite for the same input and restarts, hostile names included', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-influx-stats-'));
    const sqlite = new SqliteStore(openDatabase(dir));
    const config = { ...settings, url: influx.url };
    const influxStore = openInfluxStore(config, new ManualClock(H * 1000));
    const names = ['lat', 'a b=d\\e"f ✓', "x') OR 1=1 --", '%none'];
    const big = Array.from({ length: 10_100 }, (_, i) => `big:${1 + ((i * 7919) % 5000) / 10}|ms|#shard:${i % 2}`);
    const script = [
      Array.from({ length: 300 }, (_, i) => `${names[i % 4]}:${(i * 37) % 101}|ms|#route:${i % 3 ? 'pay' : 'cart'}`).join('\n'),
      `lat:5|ms|@0.1\nlat:7|ms|@0.5|#route:pay\nhits:1|c|@0.1\nhits:2|c\ng:10|g\ng:+5|g\nu:a|s\nu:b|s`,
      `g:-3|g\nu:a|s\nu:c "q"|s|#k:v\nhits:3|c|#env:prod\n${names[1]}:0.001|ms|#route:pay`,
      big.slice(0, 6000).join('\n'),
      big.slice(6000).join('\n'),
    ];
    try {
      for (const store of [sqlite, influxStore] as RollupStore[]) {
        const clock = new ManualClock(H * 1000 + 60_000);
        // a new Rollup for each step: a restart, which continues from the store
        for (const text of script) {
          const rollup = new Rollup({ store, writer: 'p0', clock, budget: new SeriesBudget(100_000) });
          await rollup.apply(batchOf(text, H));
          const report = await rollup.flush();
          expect(report.statsFailed).toBe(0);
        }
      }
      const target = v1Target(config);
      let points = 0;
      for (const key of [...names, 'hits', 'g', 'u', 'big']) {
        const [records] = await influxQl(target, [`SELECT * FROM "${STATS_MEASUREMENT}" WHERE "name" = $name AND time = $time`], { name: encodeTagValue(key), time: rfc3339Ns(H) });
        const fromInflux = records.map(statsFromRecord);
        const fromSqlite = await sqlite.stats(key, H);
        expect(fromSqlite.length, key).toBeGreaterThan(1);
        expect(sortStats(fromInflux), key).toEqual(sortStats(fromSqlite));
        points += fromInflux.length;
        const [mergedOnly] = await influxQl(target, [`SELECT "median", "count" FROM "${STATS_MEASUREMENT}" WHERE "name" = $name AND "tagset" = '' AND time = $time`], { name: encodeTagValue(key), time: rfc3339Ns(H) });
        expect(mergedOnly.length, key).toBe(new Set(fromSqlite.map((s) => s.family)).size);
      }
      expect(points).toBeGreaterThan(20);
      const bigStats = await sqlite.stats('big', H);
      expect(bigStats.find((s) => s.tags === null)?.exact).toBe(false);
      expect(bigStats.find((s) => s.tags === 'shard:0')?.exact).toBe(true);
    } finally {
      await sqlite.close();
      await influxStore.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
