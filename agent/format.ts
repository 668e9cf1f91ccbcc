/**
 * AGENT_FORMAT (SPEC §2): how a line of a followed file becomes what is sent to `POST /ingest`
 * (SPEC §3.1). Pure: no I/O, the read time is handed in. A line that does not parse gets a reason
 * from a fixed set and is skipped, never retried.
 *
 * A sample that carries no time of its own (StatsD without `|T`, JSON without `timestamp`, a
 * regular expression without a `ts` group) is stamped with the time the agent read it. Unstamped,
 * the gateway would place it in the hour it *received* it, so a batch held through a long gateway
 * outage would land hours late; stamped, it lands in the hour it was read.
 */
import { LineParser, REJECT_REASONS, type RejectReason, type SampleSink } from '../gateway/index.js';

export const CONTENT_TYPES = { text: 'text/plain; charset=utf-8', json: 'application/json' } as const;

export type AgentFormat =
  | { readonly kind: 'statsd' }
  | { readonly kind: 'json' }
  | { readonly kind: 'regex'; readonly pattern: RegExp; readonly hasTs: boolean };

/**
 * Why the agent skipped a line: the bounded `reason` label of
 * `hourglass_agent_lines_rejected_total`. The parser's reasons plus the agent's own.
 */
export const AGENT_REJECT_REASONS = [...REJECT_REASONS, 'no_match', 'bad_json', 'bad_object'] as const;
export type AgentRejectReason = (typeof AGENT_REJECT_REASONS)[number];

export class AgentFormatError extends Error {
  override readonly name = 'AgentFormatError';
  readonly code = 'HG_ERR_AGENT_FORMAT';
}

/**
 * Reads AGENT_FORMAT: `statsd`, `json`, or a regular expression with named groups `key` and
 * `value` (optional `ts`). Throws AgentFormatError saying what is wrong.
 */
export function parseAgentFormat(text: string): AgentFormat {
  if (text === 'statsd' || text === 'json') return { kind: text };
  let pattern: RegExp;
  try {
    pattern = new RegExp(text);
  } catch (err) {
    throw new AgentFormatError(`expected statsd, json or a regular expression: ${(err as Error).message}`);
  }
  // An alternative that matches the empty string lists every named group of the pattern.
  const groups = Object.keys(new RegExp(`(?:${text})|`).exec('')?.groups ?? {});
  const missing = ['key', 'value'].filter((g) => !groups.includes(g));
  if (missing.length > 0) throw new AgentFormatError(`the regular expression needs the named group${missing.length > 1 ? 's' : ''} ${missing.map((g) => `(?<${g}>...)`).join(' and ')}`);
  return { kind: 'regex', pattern, hasTs: groups.includes('ts') };
}

export type DecodedLine = { readonly ok: true; readonly item: string } | { readonly ok: false; readonly reason: AgentRejectReason };

/** A plain decimal number, as StatsD values are (SPEC §3): no hex, no exponent overflow games. */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const UNIX_SECONDS = /^(?:\d+\.?\d*|\.\d+)$/;
/** A receive hour no `|T` can produce (those are >= 0): tells a line with its own time from one without. */
const NO_TIME = -1;

/**
 * Turns one line (no terminator) into one item of a request body, or a reason to skip it.
 * statsd and regex items are StatsD lines (text/plain); json items are the object's text.
 */
export class LineDecoder {
  readonly contentType: string;
  private readonly parser: LineParser;
  private rejected: RejectReason | undefined;
  private samples = 0;
  private lastName = '';
  /** The hour the parser gave the last line's samples: NO_TIME unless the line has a `|T`. */
  private lastHourSec = NO_TIME;

  constructor(
    private readonly format: AgentFormat,
    private readonly maxLineBytes: number,
  ) {
    this.contentType = format.kind === 'json' ? CONTENT_TYPES.json : CONTENT_TYPES.text;
    const sink: SampleSink = {
      sample: (name, _tags, _type, _value, _weight, _delta, hourSec) => {
        this.samples++;
        this.lastName = name;
        this.lastHourSec = hourSec;
      },
      member: (name, _tags, _member, hourSec) => {
        this.samples++;
        this.lastName = name;
        this.lastHourSec = hourSec;
      },
    };
    // The gateway's own parser, so the agent skips exactly what the gateway would refuse.
    this.parser = new LineParser(sink, { reject: (reason) => (this.rejected = reason) }, maxLineBytes);
  }

  /** `readSec`: when the agent read the line (unix seconds), the time of a sample that has none. */
  decode(line: string, readSec: number): DecodedLine {
    switch (this.format.kind) {
      case 'statsd':
        return this.checkStatsd(line, undefined, readSec);
      case 'json':
        return decodeJson(line, readSec);
      case 'regex':
        return this.decodeRegex(line, this.format, readSec);
    }
  }

  private checkStatsd(line: string, expectedName: string | undefined, readSec: number): DecodedLine {
    this.rejected = undefined;
    this.samples = 0;
    this.lastHourSec = NO_TIME;
    // Parsed with NO_TIME as the receive hour: a sample comes back with another hour only when
    // the line has its own `|T`.
    this.parser.parseLine(line, 0, line.length, NO_TIME);
    if (this.rejected !== undefined) return { ok: false, reason: this.rejected };
    // A key holding `:`, `|` or `#` would change the line's meaning: refuse it, never send it.
    if (expectedName !== undefined && (this.samples !== 1 || this.lastName !== expectedName)) return { ok: false, reason: 'bad_name' };
    if (this.lastHourSec !== NO_TIME) return { ok: true, item: line };
    // `|T` is the last section of a StatsD line (SPEC §3), so it is appended. A line so near
    // MAX_LINE_BYTES that the stamp would push it over goes unstamped: the gateway's hour beats
    // a refusal.
    const stamped = `${line}|T${readSec}`;
    return { ok: true, item: Buffer.byteLength(stamped) <= this.maxLineBytes ? stamped : line };
  }

  private decodeRegex(line: string, format: { pattern: RegExp; hasTs: boolean }, readSec: number): DecodedLine {
    const groups = format.pattern.exec(line)?.groups;
    if (groups === undefined || groups.key === undefined || groups.value === undefined) return { ok: false, reason: 'no_match' };
    const { key, value } = groups;
    // `:` or `|` in a key would change the StatsD line's meaning: refused, never sent.
    if (key.length === 0 || /[:|\n\r]/.test(key)) return { ok: false, reason: 'bad_name' };
    if (!DECIMAL.test(value)) return { ok: false, reason: 'bad_value' };
    let statsd = `${key}:${value}|ms`;
    if (format.hasTs && groups.ts !== undefined) {
      if (!UNIX_SECONDS.test(groups.ts)) return { ok: false, reason: 'bad_timestamp' };
      // StatsD's `|T` takes whole seconds; only the hour of the sample matters (SPEC §3).
      statsd += `|T${Math.floor(Number(groups.ts))}`;
    }
    return this.checkStatsd(statsd, key, readSec);
  }
}

/**
 * SPEC §3.1 objects: the gateway validates them in full; the agent skips what is plainly not one.
 * An object with a `timestamp` goes as written; one without is sent re-serialised with
 * `timestamp` set to the read time.
 */
function decodeJson(line: string, readSec: number): DecodedLine {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, reason: 'bad_json' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'bad_object' };
  const object = value as Record<string, unknown>;
  if (typeof object.key !== 'string' || object.key.length === 0) return { ok: false, reason: 'bad_name' };
  const v = object.value;
  const isNumber = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  if (!(isNumber(v) || (Array.isArray(v) && v.length > 0 && v.every(isNumber)))) return { ok: false, reason: 'bad_value' };
  if (object.timestamp !== undefined) return { ok: true, item: line };
  return { ok: true, item: JSON.stringify({ ...object, timestamp: readSec }) };
}
