// rate-ladder: a quick search for the highest rate a pipeline keeps up with, for benchmarks whose
// steps are too slow for search.mjs's full bisection: try the given rates in order until one
// fails, then, if asked, one more step halfway between the last good rate and the first bad one.

/** Rounds a rate to a whole thousand lines/s, so that the figures read as the rates tried. */
const roundRate = (rate) => Math.round(rate / 1000) * 1000;

/**
 * `tryRate(rate)` resolves with a step that has `keptUp`. Resolves with { steps, best, firstBad }:
 * every step in the order run, the highest step that kept up (undefined if none) and the lowest
 * rate that did not (undefined if all kept up).
 */
export async function climbRates({ rates, bisect, tryRate }) {
  const steps = [];
  let best;
  let firstBad;
  for (const rate of rates) {
    const step = await tryRate(rate);
    steps.push(step);
    if (!step.keptUp) {
      firstBad = rate;
      break;
    }
    best = step;
  }
  const middle = best && firstBad !== undefined ? roundRate((best.rate + firstBad) / 2) : undefined;
  if (bisect && middle !== undefined && middle > best.rate && middle < firstBad) {
    const step = await tryRate(middle);
    steps.push(step);
    if (step.keptUp) best = step;
    else firstBad = middle;
  }
  return { steps, best, firstBad };
}
