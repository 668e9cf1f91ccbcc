// net: free local ports and a small keep-alive HTTP client, for talking to receivers.
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** A 127.0.0.1 port free for TCP and, if `udp`, for UDP too (StatsD listens on both). */
export async function freePort({ udp = false } = {}) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const server = net.createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address();
    const free = !udp || (await udpPortFree(port));
    server.close();
    await once(server, 'close');
    if (free) return port;
  }
  throw new Error('no free port found');
}

async function udpPortFree(port) {
  const socket = dgram.createSocket('udp4');
  try {
    socket.bind(port, '127.0.0.1');
    await once(socket, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    socket.close();
  }
}

/** GET http://127.0.0.1:`port``path`; resolves with { status, body } (body as text). */
export function httpGet(port, path) {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path, agent }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode, body }));
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}
