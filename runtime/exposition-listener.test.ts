import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/index.js';
import { parseConfig } from './config.js';
import { expositionListener } from './exposition-listener.js';
import { createLogger } from './logger.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-exposition-listener-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('expositionListener', () => {
  it('reloads a good mapping file and keeps the old mapping for a bad one', async () => {
    const file = path.join(dir, 'mapping.yml');
    fs.writeFileSync(file, 'mappings:\n  - match: "a.*"\n    name: "first_$1"\n');
    const config = parseConfig('all', { PROMETHEUS_ADDRESS: '127.0.0.1:0', STATSD_MAPPING_CONFIG: file });
    const listener = expositionListener(config, new Registry(), new ManualClock(0), createLogger('silent'));
    const port = await listener.listen();
    try {
      const exposition = listener.exposition!;
      const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      exposition.sample('a.x', '', 'c', 1, 1, false, 0);
      fs.writeFileSync(file, 'mappings:\n  - match: "a.*"\n    name: "second_$1"\n');
      expect(listener.reloadMapping()).toBe(true);
      exposition.sample('a.y', '', 'c', 1, 1, false, 0);
      fs.writeFileSync(file, 'mappings:\n  - match: "a.*"\n    name: "3rd"\n    bad_field: 1\n');
      expect(listener.reloadMapping()).toBe(false);
      exposition.sample('a.z', '', 'c', 1, 1, false, 0);
      fs.rmSync(file);
      expect(listener.reloadMapping()).toBe(false);
      const text = await scrape();
      expect(text).toMatch(/^first_x 1$/m);
      expect(text).toMatch(/^second_y 1$/m);
      expect(text).toMatch(/^second_z 1$/m);
      expect(text).not.toMatch(/3rd/);
    } finally {
      await listener.close();
    }
  });

  it('serves GET /metrics only: 405 for other methods, 404 problem+json elsewhere', async () => {
    const config = parseConfig('all', { PROMETHEUS_ADDRESS: '127.0.0.1:0' });
    const listener = expositionListener(config, new Registry(), new ManualClock(0), createLogger('silent'));
    const port = await listener.listen();
    try {
      const ok = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const post = await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST', body: 'x' });
      expect(post.status).toBe(405);
      expect(post.headers.get('allow')).toBe('GET, HEAD');
      const other = await fetch(`http://127.0.0.1:${port}/other`);
      expect(other.status).toBe(404);
      expect(other.headers.get('content-type')).toBe('application/problem+json');
      expect(await other.json()).toMatchObject({ status: 404 });
    } finally {
      await listener.close();
    }
  });

  it('PROMETHEUS_ADDRESS=off: no exposition, no listener', async () => {
    const listener = expositionListener(parseConfig('all', { PROMETHEUS_ADDRESS: 'off' }), new Registry(), new ManualClock(0), createLogger('silent'));
    expect(listener.exposition).toBeUndefined();
    expect(await listener.listen()).toBeUndefined();
  });
});
