/** The query side of the compatibility tests: SPEC §4 over real HTTP. */
import { expect } from 'vitest';
import { GiveUp, eventually } from '../test-support/eventually.js';
import { expectedSamples, keysOf, type ClientOp, type ExpectationOptions, type Tags } from './client-ops.js';
import { QUERY_DATE, QUERY_HOUR } from './embedded-hourglass.js';
import { closeTo, expectedStats, STATS, type Stat, type WeightedSample } from './expected-stats.js';

/** The 200 answer of `GET /<key>/<stat>/<date>/<hour>`. */
export interface StatAnswer {
  readonly key: string;
  readonly stat: string;
  readonly date: string;
  readonly hour: number;
  readonly value: number;
  readonly count: number;
  readonly exact: boolean;
  readonly complete: boolean;
  readonly relative_error?: number;
}

export interface QueryResult {
  readonly status: number;
  readonly contentType: string;
  readonly body: unknown;
}

/** SPEC §4: percentiles are exact for at least the first 10,000 samples of a key-hour. */
const EXACT_UP_TO_SAMPLES = 10_000;
const POLL_EVERY_MS = 50;

export function statUrl(httpPort: number, key: string, stat: Stat, tags: Tags = {}): string {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(tags)) query.append('tag', `${k}:${v}`);
  const search = query.toString() === '' ? '' : `?${query.toString()}`;
  return `http://127.0.0.1:${httpPort}/${encodeURIComponent(key)}/${stat}/${QUERY_DATE}/${QUERY_HOUR}${search}`;
}

export async function queryStat(httpPort: number, key: string, stat: Stat, tags: Tags = {}): Promise<QueryResult> {
  const response = await fetch(statUrl(httpPort, key, stat, tags));
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Left as text: the caller's assertion shows it.
  }
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', body };
}

function describeTags(tags: Tags): string {
  const entries = Object.entries(tags);
  return entries.length === 0 ? '' : ` [${entries.map(([k, v]) => `tag=${k}:${v}`).join('&')}]`;
}

/**
 * Polls the count of `key` until it equals what was sent (data becomes visible after flushes,
 * SPEC §4). Fails at once on an error status or a count above the expected one.
 */
export async function waitForCount(httpPort: number, key: string, expectedCount: number, tags: Tags = {}, timeoutMs = 10_000): Promise<void> {
  let last: QueryResult | undefined;
  try {
    await eventually(
      async () => {
        last = await queryStat(httpPort, key, 'count', tags);
        if (last.status === 200) {
          const count = (last.body as StatAnswer).count;
          if (closeTo(count, expectedCount)) return true;
          if (count > expectedCount) throw new GiveUp(`${key}${describeTags(tags)}: count ${count} is more than the ${expectedCount} sent; answer ${JSON.stringify(last.body)}`);
        } else if (last.status !== 404) {
          throw new GiveUp(`${key}${describeTags(tags)}: count query answered ${last.status}: ${JSON.stringify(last.body)}`);
        }
        return undefined;
      },
      `count ${expectedCount} of ${key}`,
      { timeoutMs, pollMs: POLL_EVERY_MS },
    );
  } catch (err) {
    if (err instanceof GiveUp || last === undefined) throw err;
    const seen = last.status === 200 ? `count ${(last.body as StatAnswer).count}` : `status ${last.status} (no data)`;
    throw new Error(`${key}${describeTags(tags)}: expected count ${expectedCount} within ${timeoutMs} ms, last saw ${seen}: ${JSON.stringify(last.body)}`);
  }
}

/**
 * Waits until every sample of `key` is visible, then checks all nine statistics against the
 * values computed from `samples`. Every mismatch is reported at once.
 */
export async function expectStatsMatch(httpPort: number, key: string, samples: readonly WeightedSample[], tags: Tags = {}): Promise<void> {
  const expected = expectedStats(samples);
  await waitForCount(httpPort, key, expected.count, tags);
  const mismatches: string[] = [];
  for (const stat of STATS) {
    const result = await queryStat(httpPort, key, stat, tags);
    if (result.status !== 200) {
      mismatches.push(`${stat}: status ${result.status}, body ${JSON.stringify(result.body)}`);
      continue;
    }
    if (!result.contentType.startsWith('application/json')) mismatches.push(`${stat}: content-type ${result.contentType}`);
    const answer = result.body as StatAnswer;
    if (!closeTo(answer.value, expected[stat])) mismatches.push(`${stat}: value ${answer.value}, expected ${expected[stat]}`);
    if (!closeTo(answer.count, expected.count)) mismatches.push(`${stat}: count ${answer.count}, expected ${expected.count}`);
    if (answer.key !== key || answer.stat !== stat || answer.date !== QUERY_DATE || answer.hour !== QUERY_HOUR) {
      mismatches.push(`${stat}: echoes key/stat/date/hour as ${JSON.stringify([answer.key, answer.stat, answer.date, answer.hour])}`);
    }
    if (expected.count <= EXACT_UP_TO_SAMPLES && answer.exact !== true) mismatches.push(`${stat}: exact ${answer.exact} for ${expected.count} samples`);
    // The test clock stands inside the hour, so the hour is still open (SPEC §4 `complete`).
    if (answer.complete !== false) mismatches.push(`${stat}: complete ${answer.complete} while the hour is open`);
  }
  expect(mismatches, `${key}${describeTags(tags)} (${samples.length} values sent, count ${expected.count})`).toEqual([]);
}

/** expectStatsMatch for every key that `ops` wrote, unfiltered. */
export async function expectEveryKeyMatches(httpPort: number, ops: readonly ClientOp[], options: Omit<ExpectationOptions, 'tags'> = {}): Promise<void> {
  for (const key of keysOf(ops)) await expectStatsMatch(httpPort, key, expectedSamples(ops, key, options));
}
