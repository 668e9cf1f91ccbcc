import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, SETTINGS, parseConfig } from './config.js';

function problemsOf(role: string, env: Record<string, string>): readonly string[] {
  try {
    parseConfig(role, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('parseConfig', () => {
  it('has the SPEC defaults', () => {
    const c = parseConfig('all', {});
    expect(c).toMatchObject({
      role: 'all',
      statsdAddress: { host: '0.0.0.0', port: 8125 },
      httpAddress: { host: '0.0.0.0', port: 8080 },
      flushIntervalMs: 1000,
      maxHttpBodyBytes: 4194304,
      natsUrl: undefined,
      influx: undefined,
      logLevel: 'info',
    });
    expect(c.dataDir).toMatch(/\/data$/);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reads MAX_HTTP_BODY_BYTES and refuses a bad one', () => {
    expect(parseConfig('all', { MAX_HTTP_BODY_BYTES: '65536' }).maxHttpBodyBytes).toBe(65536);
    expect(problemsOf('all', { MAX_HTTP_BODY_BYTES: '4MB' })).toEqual([expect.stringMatching(/^MAX_HTTP_BODY_BYTES=.*1024 to 1073741824/)]);
  });

  it('the exposition settings: defaults, off, a mapping file read and checked at start', () => {
    const c = parseConfig('all', {});
    expect(c).toMatchObject({ prometheusAddress: { host: '0.0.0.0', port: 9102 }, mappingFile: undefined, expositionMaxSeries: 100_000 });
    expect(parseConfig('gateway', { NATS_URL: 'nats://x:4222', PROMETHEUS_ADDRESS: 'off' }).prometheusAddress).toBeUndefined();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-config-'));
    try {
      const good = path.join(dir, 'good.yml');
      fs.writeFileSync(good, 'mappings:\n  - match: "a.*"\n    name: "a_$1"\n');
      expect(parseConfig('all', { STATSD_MAPPING_CONFIG: good }).mapping.match('a.b', 'counter').name).toBe('a_b');
      const bad = path.join(dir, 'bad.yml');
      fs.writeFileSync(bad, 'mappings:\n  - match: "a.*"\n  - match: "b.*"\n    name: x\n    ttl: soon\n');
      const problems = problemsOf('all', { STATSD_MAPPING_CONFIG: bad, EXPOSITION_MAX_SERIES: '0', PROMETHEUS_ADDRESS: 'nowhere' });
      expect(problems.filter((p) => p.startsWith('STATSD_MAPPING_CONFIG='))).toHaveLength(2);
      expect(problems.some((p) => p.includes('mappings[0].name: required'))).toBe(true);
      expect(problems.some((p) => p.includes('mappings[1].ttl'))).toBe(true);
      expect(problems.some((p) => p.startsWith('EXPOSITION_MAX_SERIES='))).toBe(true);
      expect(problems.some((p) => p.startsWith('PROMETHEUS_ADDRESS='))).toBe(true);
      expect(problemsOf('all', { STATSD_MAPPING_CONFIG: path.join(dir, 'missing.yml') })[0]).toMatch(/^STATSD_MAPPING_CONFIG=.*cannot read it/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('MAX_SERIES_PER_HOUR: 100000 by default (SPEC §2), a whole number of at least 1', () => {
    expect(parseConfig('all', {}).maxSeriesPerHour).toBe(100_000);
    expect(parseConfig('all', { MAX_SERIES_PER_HOUR: '500' }, { 'max-series-per-hour': '20' }).maxSeriesPerHour).toBe(20);
    for (const bad of ['0', '-1', '1.5', 'lots']) expect(problemsOf('all', { MAX_SERIES_PER_HOUR: bad })).toEqual([expect.stringMatching(/^MAX_SERIES_PER_HOUR=/)]);
  });

  it('a flag overrides its variable', () => {
    expect(parseConfig('all', { FLUSH_INTERVAL_MS: '500' }, { 'flush-interval-ms': '250' }).flushIntervalMs).toBe(250);
  });

  it('reads IPv6 and named hosts', () => {
    expect(parseConfig('all', { STATSD_ADDRESS: '[::1]:9125', HTTP_ADDRESS: 'localhost:0' })).toMatchObject({
      statsdAddress: { host: '::1', port: 9125 },
      httpAddress: { host: 'localhost', port: 0 },
    });
  });

  it('names every bad setting at once', () => {
    const problems = problemsOf('all', {
      STATSD_ADDRESS: '8125',
      HTTP_ADDRESS: '0.0.0.0:99999',
      FLUSH_INTERVAL_MS: '1e3',
      MAX_LINE_BYTES: '-1',
      NATS_URL: 'http://x',
      INFLUX_URL: 'not a url',
      INFLUX_API: 'v3',
      LOG_LEVEL: 'loud',
    });
    for (const name of ['STATSD_ADDRESS', 'HTTP_ADDRESS', 'FLUSH_INTERVAL_MS', 'MAX_LINE_BYTES', 'NATS_URL', 'INFLUX_URL', 'INFLUX_API', 'LOG_LEVEL']) {
      expect(problems.some((p) => p.startsWith(`${name}=`)), name).toBe(true);
    }
    expect(problems).toHaveLength(8);
  });

  it.each(['0', '49', '60001', '12abc', ' 100', '0x10'])('refuses FLUSH_INTERVAL_MS=%j', (value) => {
    expect(problemsOf('all', { FLUSH_INTERVAL_MS: value })).toEqual([expect.stringMatching(/^FLUSH_INTERVAL_MS=.*50 to 60000/)]);
  });

  it('the gateway and rollup roles need NATS_URL; InfluxDB needs its target', () => {
    expect(problemsOf('gateway', {})).toEqual([expect.stringMatching(/^NATS_URL: required for the gateway role/)]);
    expect(problemsOf('rollup', {})).toEqual([expect.stringMatching(/^NATS_URL: required for the rollup role/)]);
    expect(problemsOf('all', { INFLUX_URL: 'http://localhost:8086' })).toEqual([
      expect.stringMatching(/^INFLUX_TOKEN/),
      expect.stringMatching(/^INFLUX_ORG/),
      expect.stringMatching(/^INFLUX_BUCKET/),
    ]);
    expect(problemsOf('all', { INFLUX_URL: 'http://localhost:8086', INFLUX_API: 'v1' })).toEqual([expect.stringMatching(/^INFLUX_DATABASE/)]);
  });

  it('refuses an unknown role', () => {
    expect(problemsOf('everything', {})).toEqual([expect.stringMatching(/^role "everything": expected one of all, gateway, rollup, query/)]);
  });

  it('every setting has a distinct variable and flag', () => {
    expect(new Set(SETTINGS.map((s) => s.env)).size).toBe(SETTINGS.length);
    expect(new Set(SETTINGS.map((s) => s.flag)).size).toBe(SETTINGS.length);
  });

  it('rollup workers share the partitions by default; a list or all fixes them; the lease TTL is bounded', () => {
    const nats = { NATS_URL: 'nats://localhost:4222', NATS_PARTITIONS: '4' };
    expect(parseConfig('rollup', nats)).toMatchObject({ rollupPartitions: undefined, leaseTtlMs: 10_000 });
    expect(parseConfig('rollup', { ...nats, ROLLUP_PARTITIONS: 'shared', LEASE_TTL_MS: '3000' })).toMatchObject({ rollupPartitions: undefined, leaseTtlMs: 3000 });
    expect(parseConfig('rollup', { ...nats, ROLLUP_PARTITIONS: '3,1' }).rollupPartitions).toEqual([1, 3]);
    expect(parseConfig('rollup', { ...nats, ROLLUP_PARTITIONS: 'all' }).rollupPartitions).toEqual([0, 1, 2, 3]);
    expect(problemsOf('rollup', { ...nats, ROLLUP_PARTITIONS: '4' })).toEqual([expect.stringMatching(/^ROLLUP_PARTITIONS="4": expected shared, all, or partition numbers 0..3/)]);
    for (const ttl of ['2999', '60001', '10s']) expect(problemsOf('rollup', { ...nats, LEASE_TTL_MS: ttl })).toEqual([expect.stringMatching(/^LEASE_TTL_MS=.*3000 to 60000/)]);
  });
});
