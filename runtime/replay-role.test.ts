/** The replay command's pure parts: times, the range check, the stream refusal, the progress lines. */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/index.js';
import { ReplayProgressReporter, formatDuration } from './replay-progress.js';
import { parseReplayRange, parseTime, refusalOf } from './replay-role.js';

const H = Date.UTC(2026, 10, 22, 21) / 1000;
const NOW_MS = (H + 5 * 3600 + 30 * 60) * 1000;

describe('parseTime', () => {
  it.each([
    ['UTC hour', '2026-11-22T21', H],
    ['RFC 3339 Z', '2026-11-22T21:00:00Z', H],
    ['RFC 3339 offset', '2026-11-22T22:00:00+01:00', H],
    ['RFC 3339 negative half-hour offset', '2026-11-22T17:30:00-03:30', H],
    ['zero fraction', '2026-11-22T21:00:00.000Z', H],
  ])('%s', (_, text, expected) => expect(parseTime(text)).toBe(expected));

  it.each([
    ['not an hour start', '2026-11-22T21:30:00Z', /start of an hour/],
    ['a fraction', '2026-11-22T21:00:00.5Z', /no fraction/],
    ['no zone', '2026-11-22T21:00:00', /expected an RFC 3339/],
    ['unreal date', '2026-02-30T10', /not a real date/],
    ['hour 24', '2026-11-22T24', /not a real date/],
    ['words', 'yesterday', /expected an RFC 3339/],
  ])('%s is refused', (_, text, why) => expect(parseTime(text)).toMatch(why));
});

describe('parseReplayRange', () => {
  it('a closed range', () => {
    expect(parseReplayRange({ from: '2026-11-22T21', to: '2026-11-22T23' }, NOW_MS)).toEqual({ fromSec: H, toSec: H + 7200, earlySec: 300 });
  });

  it('names every problem', () => {
    const r = parseReplayRange({ from: '2026-11-22T23', to: '2026-11-22T21', 'early-sec': '-1' }, NOW_MS);
    expect(r).toEqual({ problems: [expect.stringMatching(/^--early-sec "-1"/), expect.stringMatching(/^--to 2026-11-22T21:00:00Z: must be after --from/)] });
  });

  it('refuses hours live workers may still write: the latest --to is 10 minutes past an hour end', () => {
    // now 02:30: 02:00 is open; --to 02:00 is fine (01:00-02:00 ended 30 minutes ago)
    expect(parseReplayRange({ from: '2026-11-23T01', to: '2026-11-23T02' }, NOW_MS)).toMatchObject({ toSec: H + 5 * 3600 });
    const early = parseReplayRange({ from: '2026-11-23T01', to: '2026-11-23T02' }, (H + 5 * 3600 + 5 * 60) * 1000);
    expect(early).toEqual({ problems: [expect.stringMatching(/the latest --to now is 2026-11-23T01:00:00Z/)] });
  });

  it('bounds the range', () => {
    expect(parseReplayRange({ from: '2026-09-01T00', to: '2026-11-22T00' }, NOW_MS)).toEqual({ problems: [expect.stringMatching(/at most 744 per run/)] });
  });
});

describe('refusalOf', () => {
  const range = { fromSec: H, toSec: H + 3600, earlySec: 300 };
  const extent = { retention: 'limits', messages: 10, firstSeq: 50, lastSeq: 59, firstMs: (H - 600) * 1000, lastMs: (H + 7200) * 1000 };
  it('the stream holds the start (less the early margin)', () => expect(refusalOf(extent, 'S', range)).toBeUndefined());
  it('the oldest batch is too new', () => expect(refusalOf({ ...extent, firstMs: (H - 60) * 1000 }, 'S', range)).toMatch(/no longer holds the start of the range: its oldest batch was stored at 2026-11-22T20:59:00.000Z/));
  it('sequence 1 still there: nothing lost', () => expect(refusalOf({ ...extent, firstSeq: 1, firstMs: (H + 60) * 1000 }, 'S', range)).toBeUndefined());
  it('empty', () => expect(refusalOf({ ...extent, messages: 0, firstMs: undefined }, 'S', range)).toMatch(/holds no batch/));
  it('work queue', () => expect(refusalOf({ ...extent, retention: 'workqueue' }, 'S', range)).toMatch(/work-queue retention/));
});

describe('progress', () => {
  it('plain lines off a terminal: hours done, batches read, rate, time left', () => {
    const clock = new ManualClock(NOW_MS);
    const lines: string[] = [];
    const r = new ReplayProgressReporter({ fromSec: H, toSec: H + 2 * 3600, throughSeq: 1000, clock, stream: { isTTY: false, write: (t: string) => lines.push(t) > 0 }, lineEveryMs: 1000 });
    clock.advance(1000);
    r.update({ batchesRead: 1, seq: 1, storedMs: (H + 100) * 1000 });
    clock.advance(100);
    r.update({ batchesRead: 260, seq: 260, storedMs: (H + 2000) * 1000 }); // within lineEveryMs: no line
    clock.advance(1900);
    r.update({ batchesRead: 500, seq: 500, storedMs: (H + 4000) * 1000 });
    r.finish();
    expect(lines).toEqual([
      'replay: hours 0/2, 1 batches read, 1 batches/s, 0%, 16 min 39 s left\n',
      'replay: hours 1/2, 500 batches read, 167 batches/s, 50%, 3 s left\n',
      'replay: hours 2/2, 500 batches read, 167 batches/s, 100%, 0 s left\n',
    ]);
  });

  it('durations', () => {
    expect([formatDuration(12.4), formatDuration(185), formatDuration(3720), formatDuration(Infinity)]).toEqual(['12 s', '3 min 05 s', '1 h 02 min', 'unknown']);
  });
});
