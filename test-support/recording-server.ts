/** A local HTTP server that answers from a function and records every request: a stand-in for a server that cannot run here (InfluxDB 2). */
import http from 'node:http';
import type net from 'node:net';

export interface RecordedRequest {
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export interface Answer {
  readonly status: number;
  readonly body: string;
  readonly contentType?: string;
}

export async function recordingServer(answer: (request: RecordedRequest) => Answer) {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const request = { url: req.url ?? '', headers: req.headers, body };
      requests.push(request);
      const a = answer(request);
      res.writeHead(a.status, { 'content-type': a.contentType ?? 'application/json' }).end(a.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return { url, requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
