// metrics-text: reads the Prometheus text format that receivers' /metrics pages answer with.

/** Sums the samples of each metric in Prometheus text format, over all label sets. */
export function sumMetrics(text) {
  const sums = new Map();
  for (const line of text.split('\n')) {
    const match = line.match(/^([a-zA-Z_:][\w:]*)(?:\{[^}]*\})?\s+(\S+)/);
    if (match) sums.set(match[1], (sums.get(match[1]) ?? 0) + Number(match[2]));
  }
  return sums;
}
