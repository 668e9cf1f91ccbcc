/**
 * The agent's own `GET /metrics` and `GET /healthz` (SPEC §6). node:http rather than fastify:
 * two fixed routes and no body parsing need nothing more.
 */
import http from 'node:http';
import type net from 'node:net';
import type { Registry } from 'prom-client';

export interface StatusServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startStatusServer(host: string, port: number, registry: Registry, health: () => Record<string, unknown>): Promise<StatusServer> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/problem+json' }).end(JSON.stringify({ type: 'about:blank', title: 'Method Not Allowed', status: 405, detail: 'GET or HEAD only' }));
      return;
    }
    if (url === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err)),
      );
      return;
    }
    if (url === '/healthz') {
      // The agent is healthy while it runs: a gateway that is down is its job to wait out, said in the body.
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', ...health() }));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/problem+json' }).end(JSON.stringify({ type: 'about:blank', title: 'Not Found', status: 404, detail: 'GET /metrics or /healthz' }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
