/**
 * Reads complete lines from a byte range of an open file, bounded in memory: at most
 * `maxBatchBytes` of lines plus one line (`maxLineBytes`) held at a time, whatever the file.
 */
import fs from 'node:fs/promises';

const NEWLINE = 10;
const CR = 13;
const CHUNK_BYTES = 64 * 1024;

export interface LineRange {
  /** First byte of the range (the saved offset it started from). */
  readonly start: number;
  /** One past the last newline consumed; `start` when no complete line was there. */
  readonly end: number;
  /** Complete lines within the limits, without their terminator (`\n` or `\r\n`). */
  readonly lines: string[];
  /** Lines over maxLineBytes in the range: skipped, never held whole. */
  readonly tooLong: number;
  /** Lines that were not valid UTF-8. */
  readonly invalidUtf8: number;
  /** Empty lines (skipped, not counted as rejected). */
  readonly empty: number;
}

export interface ReadLimits {
  readonly maxLineBytes: number;
  readonly maxBatchBytes: number;
  readonly maxBatchLines: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads lines from `start` up to `size` (the file's size when the caller looked). Stops at the
 * last newline before `size` (a partial last line waits for its newline), or once the range
 * holds maxBatchBytes or maxBatchLines. A line longer than maxLineBytes is counted and skipped;
 * if its newline has not been written yet, the range ends before it and it is scanned again
 * next time (its bytes are not kept, only rescanned).
 */
export async function readLines(handle: fs.FileHandle, start: number, size: number, limits: ReadLimits): Promise<LineRange> {
  const lines: string[] = [];
  let tooLong = 0;
  let invalidUtf8 = 0;
  let empty = 0;
  let end = start;
  let batchBytes = 0;
  // The current line's bytes so far (only while they fit in maxLineBytes).
  let partial: Buffer[] = [];
  let partialBytes = 0;
  let skipping = false;
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  let position = start;
  outer: while (position < size) {
    const { bytesRead } = await handle.read(chunk, 0, Math.min(CHUNK_BYTES, size - position), position);
    if (bytesRead === 0) break; // Shrunk meanwhile (truncated): the caller notices at its next look.
    let lineStart = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, lineStart);
      if (nl === -1 || nl >= bytesRead) {
        const rest = bytesRead - lineStart;
        if (!skipping) {
          if (partialBytes + rest > limits.maxLineBytes + 1) {
            // Over the limit even before its end (+1: a `\r` may still come off).
            skipping = true;
            partial = [];
            partialBytes = 0;
          } else if (rest > 0) {
            partial.push(Buffer.from(chunk.subarray(lineStart, bytesRead)));
            partialBytes += rest;
          }
        }
        position += bytesRead;
        break;
      }
      const lineEndInFile = position + nl + 1;
      if (skipping) {
        tooLong++;
      } else {
        let bytes = partialBytes === 0 ? chunk.subarray(lineStart, nl) : Buffer.concat([...partial, chunk.subarray(lineStart, nl)]);
        if (bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, bytes.length - 1);
        if (bytes.length > limits.maxLineBytes) tooLong++;
        else if (bytes.length === 0) empty++;
        else {
          try {
            lines.push(utf8.decode(bytes));
            batchBytes += bytes.length + 1;
          } catch {
            invalidUtf8++;
          }
        }
      }
      skipping = false;
      partial = [];
      partialBytes = 0;
      end = lineEndInFile;
      lineStart = nl + 1;
      if (batchBytes >= limits.maxBatchBytes || lines.length >= limits.maxBatchLines) break outer;
    }
  }
  return { start, end, lines, tooLong, invalidUtf8, empty };
}
