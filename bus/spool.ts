/**
 * The gateway's spool: batches that JetStream has not acknowledged, one file each under
 * DATA_DIR/spool, replayed oldest first with their original message ids (so JetStream drops a
 * replay of a batch it did store). Bounded in bytes: past the bound a batch is refused and the
 * caller counts it. Files survive a restart of the gateway.
 *
 * File: u16 subject bytes | subject | u16 id bytes | id | payload. The id field may go on with
 * `\n` and the batch's continuity stamp (continuity.ts; a message id never holds a newline), so
 * spool files written before stamps existed still read.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface SpooledBatch {
  readonly file: string;
  readonly subject: string;
  readonly msgId: string;
  readonly data: Uint8Array;
  /** The continuity stamp's text; undefined for a batch spooled without one. */
  readonly stamp: string | undefined;
}

/** A batch's file; `written` settles when it is on disk. */
interface SpoolFile {
  readonly name: string;
  readonly bytes: number;
  readonly written: Promise<void>;
}

export class Spool {
  /** In arrival order. */
  private readonly files: SpoolFile[] = [];
  private next = 0;
  bytes = 0;

  constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    const names = fs.readdirSync(dir).filter((f) => f.endsWith('.batch')).sort();
    for (const name of names) {
      const bytes = fs.statSync(path.join(dir, name)).size;
      this.files.push({ name, bytes, written: Promise.resolve() });
      this.bytes += bytes;
    }
    const last = names.at(-1);
    this.next = last === undefined ? 0 : Number.parseInt(last, 10) + 1;
  }

  /** Bytes the spool can still take. */
  get freeBytes(): number {
    return Math.max(0, this.maxBytes - this.bytes);
  }

  get count(): number {
    return this.files.length;
  }

  /** Writes a batch at the end of the spool; false when the spool is full. */
  async add(subject: string, msgId: string, data: Uint8Array, stamp?: string): Promise<boolean> {
    const subjectBytes = Buffer.from(subject);
    const idBytes = Buffer.from(stamp === undefined ? msgId : `${msgId}\n${stamp}`);
    const size = 4 + subjectBytes.length + idBytes.length + data.length;
    if (this.bytes + size > this.maxBytes) return false;
    const header = Buffer.alloc(4 + subjectBytes.length + idBytes.length);
    header.writeUInt16LE(subjectBytes.length, 0);
    subjectBytes.copy(header, 2);
    header.writeUInt16LE(idBytes.length, 2 + subjectBytes.length);
    idBytes.copy(header, 4 + subjectBytes.length);
    // zero-padded sequence: names sort in arrival order
    const name = `${String(this.next++).padStart(16, '0')}.batch`;
    const written = fs.promises.writeFile(path.join(this.dir, name), Buffer.concat([header, data]));
    this.files.push({ name, bytes: size, written });
    this.bytes += size;
    await written;
    return true;
  }

  /** The oldest batch, or undefined when the spool is empty. */
  async oldest(): Promise<SpooledBatch | undefined> {
    return (await this.oldestBatches(1, 0))[0];
  }

  /**
   * The oldest batches in arrival order: at most `maxCount`, and no more than `maxBytes` once
   * one is taken (the first always is, whatever its size). Empty when the spool is.
   */
  async oldestBatches(maxCount: number, maxBytes: number): Promise<SpooledBatch[]> {
    const taken: SpoolFile[] = [];
    let bytes = 0;
    for (const file of this.files) {
      if (taken.length >= maxCount || (taken.length > 0 && bytes + file.bytes > maxBytes)) break;
      taken.push(file);
      bytes += file.bytes;
    }
    return Promise.all(taken.map((file) => this.read(file)));
  }

  private async read(file: SpoolFile): Promise<SpooledBatch> {
    await file.written;
    const buf = await fs.promises.readFile(path.join(this.dir, file.name));
    const subjectLength = buf.readUInt16LE(0);
    const idLength = buf.readUInt16LE(2 + subjectLength);
    const id = buf.toString('utf8', 4 + subjectLength, 4 + subjectLength + idLength);
    const newline = id.indexOf('\n');
    return {
      file: file.name,
      subject: buf.toString('utf8', 2, 2 + subjectLength),
      msgId: newline < 0 ? id : id.slice(0, newline),
      data: buf.subarray(4 + subjectLength + idLength),
      stamp: newline < 0 ? undefined : id.slice(newline + 1),
    };
  }

  /** Forgets the oldest batch once JetStream has acknowledged it. */
  async remove(file: string): Promise<void> {
    const first = this.files[0];
    if (first === undefined || first.name !== file) throw new Error(`spool: ${file} is not the oldest batch`);
    this.files.shift();
    this.bytes -= first.bytes;
    await fs.promises.rm(path.join(this.dir, file), { force: true });
  }
}
