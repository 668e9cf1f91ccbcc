// report: turns the benchmark's results into the plain-text tables it prints.

const MIB = 1024 * 1024;

const integer = (n) => Math.round(n).toLocaleString('en-US');
const fixed = (n, digits) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits));

function table(header, rows) {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => String(row[i]).length)));
  const line = (cells) => cells.map((cell, i) => (i === 0 ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function rateText(result) {
  if (result.error) return 'error';
  if (!result.best) return 'none';
  return `${result.limitedByGenerator ? '>=' : ''}${integer(result.lossFreeLinesPerSecond)}`;
}

function ratio(result, reference) {
  if (!result?.best || !reference?.best) return '-';
  return fixed(result.lossFreeLinesPerSecond / reference.lossFreeLinesPerSecond, 2);
}

export function caseName({ linesPerDatagram, keys }) {
  return `${linesPerDatagram} line${linesPerDatagram > 1 ? 's' : ''}/dgram, ${integer(keys)} keys`;
}

export function throughputTable(cases, labels) {
  const rows = [];
  for (const c of cases) {
    const byReceiver = Object.fromEntries(c.results.map((r) => [r.receiver, r]));
    for (const r of c.results) {
      rows.push([
        caseName(c.shape),
        labels[r.receiver],
        rateText(r),
        ratio(r, byReceiver.statsd),
        ratio(r, byReceiver.null),
        fixed(r.cpuSecondsPerMillionLines, 2),
        r.peakRssBytes ? fixed(r.peakRssBytes / MIB, 0) : '-',
        r.receiveBufferBytes ? fixed(r.receiveBufferBytes / MIB, 1) : '-',
      ]);
    }
  }
  const header = ['case', 'receiver', 'loss-free lines/s', '/StatsD', '/null', 'CPU s per 1M lines', 'peak RSS MiB', 'rcvbuf MiB'];
  return table(header, rows);
}

/** Per receiver a "lost lines" column, and a "flush work ms" one if it reports its flushes. */
export function flushTable(flushResults, labels) {
  const reportsFlushes = (f) => f.windows?.[0]?.flushWorkMs !== undefined;
  const windowCount = Math.max(0, ...flushResults.map((f) => f.windows?.length ?? 0));
  const header = ['window'];
  for (const f of flushResults) header.push(`${labels[f.receiver]} lost lines`, ...(reportsFlushes(f) ? ['flush work ms'] : []));

  const rows = [];
  for (let w = 0; w < windowCount; w++) {
    const row = [`${w}-${w + 1} s`];
    for (const f of flushResults) {
      const window = f.windows?.[w];
      row.push(window ? integer(window.lostLines) : '-');
      if (reportsFlushes(f)) row.push(window.flushWorkMs.join(', ') || '-');
    }
    rows.push(row);
  }
  const totals = ['total lost'];
  for (const f of flushResults) {
    totals.push(f.error ? 'error' : `${integer(f.lostLines)} of ${integer(f.sentLines)}`, ...(reportsFlushes(f) ? [''] : []));
  }
  rows.push(totals);
  return table(header, rows);
}

export function queryTable(query) {
  const rows = Object.entries(query.latencyMs).map(([stat, l]) => [
    stat,
    fixed(l.p50, 2),
    fixed(l.p99, 2),
    fixed(l.max, 2),
    String(l.answer.value),
    String(l.answer.exact),
    String(l.answer.complete),
  ]);
  return table(['stat', 'p50 ms', 'p99 ms', 'max ms', 'value', 'exact', 'complete'], rows);
}

export function mib(bytes) {
  return `${fixed(bytes / MIB, bytes < MIB ? 2 : 0)} MiB`;
}

export { integer };
