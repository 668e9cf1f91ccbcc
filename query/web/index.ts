/**
 * The web page at GET / (SPEC §4.1, §6): the keys, hourly charts over days, the open hour live,
 * the pipeline's health. Served entirely by this process: the page, its script and uPlot, read
 * once at start; no CDN, no build step. The page reads only this process's API and /metrics, and
 * its Content-Security-Policy holds the browser to that.
 *
 * Charts: uPlot rather than Chart.js. uPlot is made for time series (a time x-axis, gaps, many
 * points drawn fast on a canvas) and its minified build is about 50 KB with no dependencies;
 * Chart.js is a general charting library, several times larger, and needs a date adapter
 * package for a time axis.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../core/index.js';

export interface WebPageOptions {
  /** The page shows the server's date and open hour, not the browser's. */
  readonly clock: Clock;
  /** The page polls the open hour at this interval (SPEC §6: refreshed within 5 s). */
  readonly flushIntervalMs: number;
}

const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * The folder of page.html: beside this module in the source tree; from dist/ (tsc copies only
 * TypeScript), the source folder it was compiled from.
 */
function assetDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [here, path.resolve(here, '..', '..', '..', 'query', 'web')];
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, 'page.html')));
  if (found === undefined) throw new Error(`the web page's files (page.html) are in none of ${candidates.join(', ')}`);
  return found;
}

interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

/** The page's files and uPlot's, read once. */
function loadAssets(): { html: string; files: Map<string, Asset> } {
  const dir = assetDir();
  const require = createRequire(import.meta.url);
  const read = (file: string) => fs.readFileSync(file);
  const files = new Map<string, Asset>([
    ['page.js', { type: 'text/javascript; charset=utf-8', body: read(path.join(dir, 'page.js')) }],
    ['page.css', { type: 'text/css; charset=utf-8', body: read(path.join(dir, 'page.css')) }],
    ['uplot.js', { type: 'text/javascript; charset=utf-8', body: read(require.resolve('uplot/dist/uPlot.iife.min.js')) }],
    ['uplot.css', { type: 'text/css; charset=utf-8', body: read(require.resolve('uplot/dist/uPlot.min.css')) }],
  ]);
  return { html: fs.readFileSync(path.join(dir, 'page.html'), 'utf8'), files };
}

/** GET / (the page) and GET /-/web/<file> (its script, style and uPlot). */
export function registerWebPage(app: FastifyInstance, options: WebPageOptions): void {
  const { html, files } = loadAssets();
  app.get('/', async (_request, reply) => {
    const page = html.replace('{{NOW_MS}}', String(options.clock.nowMs())).replace('{{FLUSH_INTERVAL_MS}}', String(options.flushIntervalMs));
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').header('content-security-policy', CONTENT_SECURITY_POLICY).send(page);
  });
  for (const [name, asset] of files) {
    app.get(`/-/web/${name}`, async (_request, reply) => reply.type(asset.type).header('cache-control', 'no-cache').send(asset.body));
  }
}
