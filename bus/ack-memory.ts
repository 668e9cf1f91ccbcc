/**
 * Acknowledgements a rollup worker has sent, remembered so they can be sent again after the NATS
 * connection comes back.
 *
 * Why: nats.js (v3) discards its whole outbound buffer at every reconnect attempt (each dial
 * starts with an empty buffer), so an ack published while the connection is down, or written just
 * before it broke and never read by the server, is lost without an error. A server that is
 * stopped (or killed) may also not have persisted the last acks it read. The batch then stays
 * "ack pending" on the server until its ack wait (minutes) and only then comes back, behind newer
 * batches: the worker's backlog never drains to zero in the meantime. Acking twice is harmless
 * (the server ignores an ack for a batch it no longer holds), so every ack sent while
 * disconnected, and every ack sent in the last `rememberMs` before the connection broke, is sent
 * again on reconnect.
 */
export interface AckMemoryOptions {
  /** How long an ack sent on a live connection is kept: longer than the server can take to read and persist it. */
  readonly rememberMs: number;
  /** Bound on remembered acks; past it the oldest are forgotten (counted by the caller). */
  readonly max: number;
  readonly nowMs: () => number;
}

interface SentAck {
  readonly reply: string;
  atMs: number;
}

export class AckMemory {
  private acks: SentAck[] = [];
  private connected = true;

  constructor(private readonly options: AckMemoryOptions) {}

  get size(): number {
    return this.acks.length;
  }

  /** An ack was published to `reply`; returns how many old acks were forgotten to stay bounded. */
  sent(reply: string): number {
    this.acks.push({ reply, atMs: this.options.nowMs() });
    if (this.connected) this.forgetOld();
    const over = this.acks.length - this.options.max;
    if (over > 0) this.acks.splice(0, over);
    return Math.max(0, over);
  }

  /** The connection broke: keep everything from now on until it is back. */
  disconnected(): void {
    this.forgetOld();
    this.connected = false;
  }

  /** The connection is back: the acks to send again (remembered for another `rememberMs`). */
  reconnected(): string[] {
    this.connected = true;
    const now = this.options.nowMs();
    for (const a of this.acks) a.atMs = now;
    return this.acks.map((a) => a.reply);
  }

  private forgetOld(): void {
    const oldest = this.options.nowMs() - this.options.rememberMs;
    let i = 0;
    while (i < this.acks.length && this.acks[i].atMs < oldest) i++;
    if (i > 0) this.acks.splice(0, i);
  }
}
