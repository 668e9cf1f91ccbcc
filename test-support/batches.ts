/**
 * StatsD text into a decoded bus batch, through the real parser, batch builder and codec, as a
 * gateway would send it: the one way tests make batches. A line the parser rejects fails the test.
 */
import { decodeBatch, encodeBatch, type DecodedBatch, type SeriesBatch } from '../bus/index.js';
import { BatchBuilder, LineParser } from '../gateway/index.js';

export function batchOf(text: string, receiveHourSec: number): DecodedBatch {
  const builder = new BatchBuilder();
  new LineParser(
    builder,
    {
      reject: (reason, line) => {
        throw new Error(`the parser rejected a test line (${reason}): ${line}`);
      },
    },
    8192,
  ).parseLines(text, receiveHourSec);
  return decodeBatch(encodeBatch(builder.take(), 0));
}

/** A series with plain arrays in place of typed ones, for toEqual. */
export const plainSeries = (s: SeriesBatch) => ({
  type: s.type,
  name: s.name,
  tags: s.tags,
  hourSec: s.hourSec,
  values: Array.from(s.values),
  weights: s.weights && Array.from(s.weights),
  deltas: s.deltas && Array.from(s.deltas),
  members: s.members,
});
