/**
 * The exposition's own HTTP listener (PROMETHEUS_ADDRESS, statsd_exporter's port 9102): GET
 * /metrics and nothing else. node:http rather than fastify: one route, no body, no plugins.
 */
import http from 'node:http';
import type { Exposition } from './exposition.js';

/** The text format 0.0.4 content type, as Prometheus asks for and client_golang answers. */
export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface ExpositionServerOptions {
  readonly host: string;
  readonly port: number;
  readonly exposition: Exposition;
}

export interface RunningExpositionServer {
  readonly port: number;
  close(): Promise<void>;
}

function problem(res: http.ServerResponse, status: number, title: string, detail: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/problem+json', ...headers });
  res.end(JSON.stringify({ type: 'about:blank', title, status, detail }));
}

export async function startExpositionServer(options: ExpositionServerOptions): Promise<RunningExpositionServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') return problem(res, 404, 'Not Found', 'this listener serves GET /metrics only');
    if (req.method !== 'GET' && req.method !== 'HEAD') return problem(res, 405, 'Method Not Allowed', 'use GET', { allow: 'GET, HEAD' });
    let body: string;
    try {
      body = options.exposition.render();
    } catch (err) {
      return problem(res, 500, 'Internal Server Error', (err as Error).message);
    }
    res.writeHead(200, { 'content-type': TEXT_CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  server.keepAliveTimeout = 65_000; // longer than Prometheus's idle connections are kept
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
