/**
 * The agent's saved state in DATA_DIR: per followed file, its identity, how far it was delivered
 * (`offset`), and the range being sent (`pending`), so that after a crash that same range is sent
 * again with the same Idempotency-Key and the same read time. Written atomically (temp file, fsync, rename, fsync of the
 * folder): a crash leaves the old state or the new one, never half of one.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/** Bytes of the start of a file that, with device and inode, say which file it is. */
export const FINGERPRINT_BYTES = 256;

export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
  /** How many first bytes the fingerprint covers (grows up to FINGERPRINT_BYTES as the file does). */
  readonly fingerprintBytes: number;
  /** sha256 (hex, first 16 characters) of those bytes. */
  readonly fingerprint: string;
}

export interface SavedFile extends FileIdentity {
  /** Where the file was last seen (its name may have changed since: rotation). */
  readonly path: string;
  /** Bytes before this were delivered (or skipped as unparsable). */
  readonly offset: number;
  /** The AGENT_FILES glob that found it. */
  readonly pattern: string;
  /**
   * Names the file in Idempotency-Keys; a new one on each truncation, so a range read again after
   * it never reuses a key the gateway already counted.
   */
  readonly fileId: string;
  /** The range sent and not yet acknowledged, if any. */
  readonly pending: PendingRange | undefined;
}

/**
 * A range being sent. `readSec` (unix seconds) is when it was first read: the time stamped on its
 * samples that carry none, saved so that a resend after a crash is the same body with the same
 * hours, not a body re-stamped at restart.
 */
export interface PendingRange {
  readonly start: number;
  readonly end: number;
  readonly readSec: number;
}

interface StateFile {
  readonly version: 1;
  readonly files: readonly SavedFile[];
}

export function fingerprintOf(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

/** Reads the first `length` bytes of an open file (fewer if it is shorter now). */
export async function readHead(handle: fs.FileHandle, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}

/** Identity of an open file now: device, inode, and a fingerprint of up to FINGERPRINT_BYTES. */
export async function identityOf(handle: fs.FileHandle): Promise<FileIdentity> {
  const stat = await handle.stat();
  const head = await readHead(handle, Math.min(FINGERPRINT_BYTES, stat.size));
  return { dev: stat.dev, ino: stat.ino, fingerprintBytes: head.length, fingerprint: fingerprintOf(head) };
}

/** True when the open file still starts with the bytes `saved` fingerprinted. */
export async function startsLike(handle: fs.FileHandle, saved: FileIdentity): Promise<boolean> {
  const head = await readHead(handle, saved.fingerprintBytes);
  return head.length === saved.fingerprintBytes && fingerprintOf(head) === saved.fingerprint;
}

export class OffsetStore {
  private readonly file: string;

  constructor(private readonly dir: string) {
    this.file = path.join(dir, 'agent-offsets.json');
  }

  async load(): Promise<SavedFile[]> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const state = JSON.parse(text) as StateFile;
    if (state.version !== 1 || !Array.isArray(state.files)) throw new Error(`${this.file}: unknown state format`);
    return [...state.files];
  }

  async save(files: readonly SavedFile[]): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    const temp = `${this.file}.tmp`;
    const handle = await fs.open(temp, 'w');
    try {
      await handle.writeFile(JSON.stringify({ version: 1, files } satisfies StateFile));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, this.file);
    // The rename itself is durable only once the folder is synced.
    const dir = await fs.open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
