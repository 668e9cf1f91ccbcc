// search: finds the highest rate a receiver takes without losing a line.
//
// A step sends a paced load for a few seconds, then polls until the receiver has counted every
// line and has no backlog left, or has visibly stopped (nothing left in its socket queue, count
// and backlog unchanged for its quiet time); so the next step starts with the receiver idle and
// the step's CPU time includes all the work its lines caused. A step is loss-free when every line sent was counted, none was rejected and
// the kernel dropped no datagram. The search doubles the rate until a step loses lines, then
// bisects (geometrically) between the last loss-free rate and the first lossy one.
import { sendLoad } from './loadgen.mjs';
import { cpuSeconds, requireUdpSocketStats } from './procfs.mjs';
import { delay } from './wait.mjs';

const POLL_MS = 50;
const MIN_RATE = 1_000;
/** A sender short of its target by more than this shares the CPUs with a busy receiver. */
const NOTABLE_SHORTFALL = 0.1;
/** A sender below this share of its target is the limit, not the receiver: the ramp stops. */
const GENERATOR_CEILING = 0.5;

/** First rate tried: well below what any receiver takes, yet few doublings from the ceiling. */
function startRate({ linesPerDatagram }) {
  return linesPerDatagram > 1 ? 200_000 : 50_000;
}

async function snapshot(receiver) {
  const counts = await receiver.counts();
  return { ...counts, kernelDrops: requireUdpSocketStats(receiver.udpPort).drops, cpu: cpuSeconds(receiver.pid) };
}

/** Polls until the receiver has handled `expectedLines` more than `before`, or stopped working. */
async function settle(receiver, before, expectedLines) {
  let last = await receiver.counts();
  let lastChange = Date.now();
  while (last.lines - before.lines < expectedLines || last.backlog > 0) {
    await delay(POLL_MS);
    const next = await receiver.counts();
    const busy = requireUdpSocketStats(receiver.udpPort).queuedBytes > 0;
    if (busy || next.lines !== last.lines || next.backlog !== last.backlog) lastChange = Date.now();
    else if (Date.now() - lastChange >= receiver.quietMs) return next;
    last = next;
  }
  return last;
}

/** One load step against a running receiver; `shape` is { linesPerDatagram, keys, timestamp }. */
export async function runStep(receiver, shape, rate, seconds) {
  const startMs = Date.now();
  const before = await snapshot(receiver);
  const sent = await sendLoad({ port: receiver.udpPort, rate, seconds, ...shape });
  await settle(receiver, before, sent.lines);
  const after = await snapshot(receiver);
  const received = after.lines - before.lines;
  const result = {
    rate,
    sentLines: sent.lines,
    sentLinesPerSecond: sent.linesPerSecond,
    receivedLines: received,
    lostLines: sent.lines - received,
    rejectedLines: after.rejected - before.rejected,
    kernelDroppedDatagrams: after.kernelDrops - before.kernelDrops,
    ownDrops: after.ownDrops - before.ownDrops,
    sendErrors: sent.sendErrors,
    cpuSeconds: after.cpu - before.cpu,
    senderShortfall: sent.linesPerSecond < rate * (1 - NOTABLE_SHORTFALL),
    generatorBound: sent.linesPerSecond < rate * GENERATOR_CEILING,
    stepSeconds: (Date.now() - startMs) / 1000,
  };
  result.lossFree =
    result.lostLines === 0 &&
    result.rejectedLines === 0 &&
    result.kernelDroppedDatagrams === 0 &&
    result.ownDrops === 0 &&
    result.sendErrors === 0;
  return result;
}

/**
 * The highest loss-free rate, to within `resolution` (0.1 = 10 %), unless the sender cannot go
 * faster (then best.generatorBound is set and the figure is a lower bound). Resolves with
 * { best, firstLossyRate, steps }; best is the loss-free step at the highest rate (undefined
 * if even MIN_RATE lost lines); `onStep` sees every step as it finishes.
 */
export async function findMaxLossFreeRate(receiver, shape, { seconds, resolution, onStep }) {
  const steps = [];
  const tryRate = async (rate) => {
    const step = await runStep(receiver, shape, Math.round(rate), seconds);
    steps.push(step);
    onStep(step);
    return step;
  };

  let best;
  let firstLossyRate;
  for (let rate = startRate(shape); ; rate *= 2) {
    const step = await tryRate(rate);
    if (!step.lossFree) {
      firstLossyRate = step.rate;
      break;
    }
    best = step;
    if (step.generatorBound) return { best, firstLossyRate, steps };
  }
  for (let rate = startRate(shape) / 2; !best && rate >= MIN_RATE; rate /= 2) {
    const step = await tryRate(rate);
    if (step.lossFree) best = step;
    else firstLossyRate = step.rate;
  }
  while (best && firstLossyRate / best.rate > 1 + resolution) {
    const step = await tryRate(Math.sqrt(best.rate * firstLossyRate));
    if (step.lossFree) best = step;
    else firstLossyRate = step.rate;
  }
  return { best, firstLossyRate, steps };
}
