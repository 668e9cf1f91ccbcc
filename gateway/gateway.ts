/**
 * The gateway: StatsD over UDP and TCP on one port, parsed into batches that are handed to the
 * bus by size (MAX_BATCH_LINES) or time (FLUSH_INTERVAL_MS).
 *
 * The socket callbacks do only the parsing and the appending to the batch; encoding and the
 * hand-off run once per batch, and everything heavier (windows, sketches, storage) is on the
 * other side of the bus. Counters are plain numbers on the hot path and are copied into
 * prom-client at each flush and scrape (a labelled prom-client inc costs more than a parse).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { isAscii, isUtf8 } from 'node:buffer';
import { MS_PER_HOUR, RateLimitedLog, type Clock, type Logger, type MetricType } from '../core/index.js';
import type { BatchPublisher } from '../bus/index.js';
import { BatchBuilder } from './batch-builder.js';
import { LineParser, type RejectSink, type SampleSink } from './line-parser.js';
import type { GatewayMetrics } from './metrics.js';
import { REJECT_REASONS, type RejectReason } from './reject-reasons.js';
import type { RemoteWriteSink } from './remote-write/index.js';

export interface GatewayOptions {
  readonly address: { readonly host: string; readonly port: number };
  readonly udpRecvBufferBytes: number;
  readonly maxLineBytes: number;
  readonly maxBatchLines: number;
  readonly flushIntervalMs: number;
  readonly clock: Clock;
  readonly publisher: BatchPublisher;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  /** Also gets every parsed sample: the Prometheus exposition (SPEC §6), when it is on. */
  readonly alsoTo?: SampleSink;
}

const EXCERPT_CHARS = 120;

/** Hands every parsed sample to two sinks (explicit parameters: no rest array per sample). */
export class TeeSink implements SampleSink {
  constructor(
    private readonly first: SampleSink,
    private readonly second: SampleSink,
  ) {}

  sample(name: string, tags: string, type: MetricType, value: number, weight: number, delta: boolean, hourSec: number): void {
    this.first.sample(name, tags, type, value, weight, delta, hourSec);
    this.second.sample(name, tags, type, value, weight, delta, hourSec);
  }

  member(name: string, tags: string, member: string, hourSec: number): void {
    this.first.member(name, tags, member, hourSec);
    this.second.member(name, tags, member, hourSec);
  }
}

class RejectCounter implements RejectSink {
  readonly counts = new Map<RejectReason, number>(REJECT_REASONS.map((r) => [r, 0]));
  constructor(private readonly log: RateLimitedLog) {}
  reject(reason: RejectReason, line: string): void {
    this.counts.set(reason, (this.counts.get(reason) as number) + 1);
    // JSON escaping keeps control characters and quotes out of the log line.
    this.log.warn(`reject:${reason}`, { reason, excerpt: JSON.stringify(line.slice(0, EXCERPT_CHARS)) }, 'rejected a StatsD line');
  }
}

/** One item of an HTTP ingest request: a StatsD line, or an item already found invalid (a JSON object that spells no line). */
export type IngestItem = string | { readonly rejected: RejectReason; readonly excerpt: string };

export interface IngestOutcome {
  readonly accepted: number;
  readonly rejected: number;
  /** The invalid items, by their index in the request. */
  readonly errors: readonly { readonly index: number; readonly reason: RejectReason }[];
}

export class Gateway {
  private readonly batch = new BatchBuilder();
  private readonly parser: LineParser;
  private readonly rejects: RejectCounter;
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private readonly connections = new Set<net.Socket>();
  private timer: NodeJS.Timeout | undefined;
  // hot-path counters, copied to prom-client by syncMetrics()
  private udpLines = 0;
  private tcpLines = 0;
  private httpLines = 0;
  private datagrams = 0;
  private synced = { udpLines: 0, tcpLines: 0, httpLines: 0, datagrams: 0, rejects: new Map<RejectReason, number>(), drops: 0 };
  // hour of receipt, recomputed only when the clock leaves the cached hour
  private hourStartMs = 0;
  private hourSec = 0;
  private closed = false;

  constructor(private readonly options: GatewayOptions) {
    const log = new RateLimitedLog(options.logger, () => options.clock.nowMs());
    this.rejects = new RejectCounter(log);
    const sink = options.alsoTo === undefined ? this.batch : new TeeSink(this.batch, options.alsoTo);
    this.parser = new LineParser(sink, this.rejects, options.maxLineBytes);
  }

  /** Binds UDP, then TCP on the same port; returns the port (useful with port 0). */
  async start(): Promise<number> {
    const { address, udpRecvBufferBytes } = this.options;
    const udp = dgram.createSocket({ type: net.isIPv6(address.host) ? 'udp6' : 'udp4', recvBufferSize: udpRecvBufferBytes });
    udp.on('message', (msg) => this.onDatagram(msg));
    udp.on('error', (err) => this.options.logger.error({ err }, 'UDP socket error'));
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(address.port, address.host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    this.udp = udp;
    const port = udp.address().port;
    const granted = udp.getRecvBufferSize();
    this.options.metrics.udpReceiveBufferBytes.set(granted);
    // Linux reports twice the size it books; less than asked means net.core.rmem_max capped it.
    if (granted < udpRecvBufferBytes) {
      this.options.logger.warn({ askedBytes: udpRecvBufferBytes, grantedBytes: granted }, 'UDP receive buffer capped by the kernel (raise net.core.rmem_max)');
    }

    const tcp = net.createServer((socket) => this.onConnection(socket));
    tcp.maxConnections = 10_000;
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, address.host, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    this.tcp = tcp;
    this.timer = setInterval(() => this.flush(true), this.options.flushIntervalMs);
    this.timer.unref();
    return port;
  }

  /** Hands the current batch on, if it holds anything. */
  flush(endOfInterval = true): void {
    if (this.batch.size === 0) return;
    const started = performance.now();
    const values = this.batch.size;
    // the publisher counts what it publishes (for JetStream, on the ack) and what it drops
    this.options.publisher.publish(this.batch.take(), values, endOfInterval);
    this.options.metrics.gatewayFlushDuration.observe((performance.now() - started) / 1000);
  }

  /** Copies the hot-path counters into prom-client (called at flush and before each scrape). */
  syncMetrics(kernelDrops: number | undefined): void {
    const { metrics } = this.options;
    const s = this.synced;
    metrics.linesReceived.inc({ transport: 'udp' }, this.udpLines - s.udpLines);
    metrics.linesReceived.inc({ transport: 'tcp' }, this.tcpLines - s.tcpLines);
    metrics.linesReceived.inc({ transport: 'http' }, this.httpLines - s.httpLines);
    s.httpLines = this.httpLines;
    metrics.datagramsReceived.inc(this.datagrams - s.datagrams);
    s.udpLines = this.udpLines;
    s.tcpLines = this.tcpLines;
    s.datagrams = this.datagrams;
    for (const [reason, count] of this.rejects.counts) {
      const before = s.rejects.get(reason) ?? 0;
      if (count > before) metrics.linesRejected.inc({ reason }, count - before);
      s.rejects.set(reason, count);
    }
    if (kernelDrops !== undefined && kernelDrops > s.drops) {
      metrics.udpReceiveDrops.inc(kernelDrops - s.drops);
      s.drops = kernelDrops;
    }
  }

  /**
   * Where values from outside the sockets go (`POST /api/v1/write`): into the same batch as the
   * StatsD lines, with the same size trigger and flush timer, so they reach the bus and the rollup
   * exactly as UDP does. Straight into the batch builder, not through the line parser: what is
   * teed off the parser (the Prometheus exposition, SPEC §6) must not see remote-written data.
   * Refuses (false) once the gateway is closing or while the bus cannot take a batch.
   */
  sink(): RemoteWriteSink {
    const accepting = () => !this.closed && this.options.publisher.accepting?.() !== false;
    return {
      accepting,
      sample: (name, tags, type, value, weight, delta, hourSec) => {
        if (this.closed) return false;
        this.batch.sample(name, tags, type, value, weight, delta, hourSec);
        if (this.batch.size >= this.options.maxBatchLines) this.flush(false);
        return true;
      },
      histogram: (name, tags, hourSec, increments) => {
        if (this.closed) return false;
        this.batch.histogram(name, tags, hourSec, increments);
        if (this.batch.size >= this.options.maxBatchLines) this.flush(false);
        return true;
      },
    };
  }

  /** Stops listening (a TCP client then sees a refused connection), then hands the last batch on. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const socket of this.connections) socket.end();
    await Promise.all([
      new Promise<void>((resolve) => (this.udp ? this.udp.close(() => resolve()) : resolve())),
      new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve())),
    ]);
    this.flush();
  }

  /**
   * One HTTP ingest request (SPEC §3.1): each item is judged alone, with the same parser and the
   * same reject counters as UDP; the valid ones go to the bus as a batch of their own, and the
   * promise settles once that batch is durable (BatchPublisher.publishDurable). Rejects with the
   * bus's BusUnavailableError when it cannot take them now; nothing of the request is kept then.
   */
  async ingest(items: readonly IngestItem[], idempotencyKey: string | undefined): Promise<IngestOutcome> {
    const builder = new BatchBuilder();
    let lastReason: RejectReason | undefined;
    const parser = new LineParser(
      builder,
      {
        reject: (reason, line) => {
          lastReason = reason;
          this.rejects.reject(reason, line);
        },
      },
      this.options.maxLineBytes,
    );
    const hourSec = this.receiveHour();
    const errors: { index: number; reason: RejectReason }[] = [];
    let accepted = 0;
    for (let index = 0; index < items.length; index++) {
      const item = items[index];
      this.httpLines++;
      if (typeof item !== 'string') {
        this.rejects.reject(item.rejected, item.excerpt);
        errors.push({ index, reason: item.rejected });
        continue;
      }
      // one line, or several that stand for one item (a JSON set's members): all or none counts
      lastReason = undefined;
      let ok = true;
      for (let start = 0; start <= item.length && ok; ) {
        let end = item.indexOf('\n', start);
        if (end === -1) end = item.length;
        const lineEnd = end > start && item.charCodeAt(end - 1) === 13 ? end - 1 : end;
        ok = parser.parseLine(item, start, lineEnd, hourSec);
        start = end + 1;
      }
      if (ok) accepted++;
      else errors.push({ index, reason: lastReason ?? 'bad_section' });
    }
    if (accepted > 0) {
      const values = builder.size;
      await this.options.publisher.publishDurable(builder.take(), values, idempotencyKey);
    }
    return { accepted, rejected: errors.length, errors };
  }

  private receiveHour(): number {
    const now = this.options.clock.nowMs();
    if (now < this.hourStartMs || now >= this.hourStartMs + MS_PER_HOUR) {
      this.hourStartMs = now - (now % MS_PER_HOUR);
      this.hourSec = this.hourStartMs / 1000;
    }
    return this.hourSec;
  }

  private onDatagram(msg: Buffer): void {
    this.datagrams++;
    this.udpLines += this.parseBytes(msg);
    if (this.batch.size >= this.options.maxBatchLines) this.flush(false);
  }

  /** Parses complete lines held in `bytes`; returns the number of lines. */
  private parseBytes(bytes: Buffer): number {
    const hourSec = this.receiveHour();
    // latin1 is a plain byte copy, and exact for ASCII: the common case.
    if (isAscii(bytes)) return this.parser.parseLines(bytes.toString('latin1'), hourSec);
    if (isUtf8(bytes)) return this.parser.parseLines(bytes.toString('utf8'), hourSec);
    // Invalid UTF-8 somewhere: judge line by line so only the bad lines are lost.
    let lines = 0;
    let start = 0;
    while (start < bytes.length) {
      let end = bytes.indexOf(10, start);
      if (end === -1) end = bytes.length;
      const line = bytes.subarray(start, end);
      if (line.length > 0 && !(line.length === 1 && line[0] === 13)) {
        if (isUtf8(line)) {
          lines += this.parser.parseLines(line.toString('utf8'), hourSec);
        } else {
          lines++;
          this.rejects.reject('invalid_utf8', line.toString('latin1'));
        }
      }
      start = end + 1;
    }
    return lines;
  }

  private onConnection(socket: net.Socket): void {
    const { metrics, maxLineBytes } = this.options;
    metrics.tcpConnections.inc();
    metrics.tcpConnectionsOpen.inc();
    this.connections.add(socket);
    let pending: Buffer | null = null;
    socket.on('data', (chunk: Buffer) => {
      const data = pending === null ? chunk : Buffer.concat([pending, chunk]);
      const lastNewline = data.lastIndexOf(10);
      const complete = lastNewline === -1 ? 0 : lastNewline + 1;
      pending = complete === data.length ? null : data.subarray(complete);
      let longAt = this.longLineAt(data, complete);
      if (longAt === -1 && pending !== null && pending.length > maxLineBytes) longAt = complete;
      if (longAt !== -1) {
        // Keep the lines before the long one, reject it, and close: the rest of the stream
        // cannot be framed reliably.
        if (longAt > 0) this.tcpLines += this.parseBytes(data.subarray(0, longAt));
        this.tcpLines++;
        this.rejects.reject('line_too_long', data.toString('latin1', longAt, Math.min(data.length, longAt + EXCERPT_CHARS)));
        metrics.tcpConnectionsClosedByGateway.inc({ reason: 'line_too_long' });
        pending = null;
        socket.destroy();
        return;
      }
      if (complete > 0) this.tcpLines += this.parseBytes(data.subarray(0, complete));
      if (this.batch.size >= this.options.maxBatchLines) this.flush(false);
    });
    socket.on('end', () => {
      // a last line without its newline still counts
      if (pending !== null && pending.length > 0) this.tcpLines += this.parseBytes(pending);
      pending = null;
      socket.end();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.connections.delete(socket);
      metrics.tcpConnectionsOpen.dec();
    });
  }

  /** Start of the first line in data[0, end) longer than MAX_LINE_BYTES, or -1. */
  private longLineAt(data: Buffer, end: number): number {
    const max = this.options.maxLineBytes;
    if (end <= max) return -1;
    let start = 0;
    while (start < end) {
      const nl = data.indexOf(10, start);
      const lineEnd = nl === -1 || nl >= end ? end : nl;
      const length = lineEnd - start - (lineEnd > start && data[lineEnd - 1] === 13 ? 1 : 0);
      if (length > max) return start;
      start = lineEnd + 1;
    }
    return -1;
  }
}
