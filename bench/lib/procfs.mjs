// procfs: what the kernel knows about a receiver, read from /proc, so that every receiver is
// measured the same way whatever it reports itself: CPU time and peak memory of its process,
// and the queue and drop counters of its UDP socket (kernel drops are the loss a receiver
// never sees).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

/** User + system CPU seconds used so far by process `pid` (all its threads). */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name start at field 3 (state); utime is 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** Current (VmRSS) and peak (VmHWM) resident memory of process `pid`, in bytes. */
export function memoryBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm'))[1]);
  return { rss: kib('VmRSS') * 1024, peakRss: kib('VmHWM') * 1024 };
}

/**
 * Unread bytes and kernel drops (datagrams) of the UDP socket(s) bound to local `port`, from
 * /proc/net/udp; undefined while nothing is bound there.
 */
export function udpSocketStats(port) {
  const suffix = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let found;
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (!fields[1]?.endsWith(suffix)) continue;
    const [, rxQueue] = fields[4].split(':');
    found ??= { queuedBytes: 0, drops: 0 };
    found.queuedBytes += parseInt(rxQueue, 16);
    found.drops += Number(fields[fields.length - 1]);
  }
  return found;
}

/** Like udpSocketStats, but an error when nothing is bound to `port` (its receiver exited). */
export function requireUdpSocketStats(port) {
  const stats = udpSocketStats(port);
  if (!stats) throw new Error(`nothing is bound to UDP port ${port} any more: did the receiver exit?`);
  return stats;
}

/** The receive buffer the kernel actually gave the UDP socket on `port` (ss: skmem rb). */
export function udpReceiveBufferBytes(port) {
  try {
    const out = execFileSync('ss', ['-uanmH', 'sport', '=', `:${port}`], { encoding: 'utf8' });
    return Number(out.match(/\brb(\d+)/)?.[1]) || undefined;
  } catch {
    return undefined;
  }
}

export function readSysctl(name) {
  return Number(readFileSync(`/proc/sys/${name.replaceAll('.', '/')}`, 'utf8'));
}

/**
 * Restarts the kernel's peak-RSS record (VmHWM) of process `pid` (clear_refs 5, Linux 4.0+), so
 * that memoryBytes(pid).peakRss afterwards is the peak since now: a maximum over a step without
 * sampling. Resolves false where the kernel does not allow it (then peakRss is the lifetime peak).
 */
export function resetPeakRss(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * CPU time and peak RSS of named processes over a span: `const span = usageSpan({ gateway: pid,
 * ... })`, then `span.end()` gives { cpuSeconds: { name: s }, peakRssBytes: { name: bytes } }.
 * A process that exited during the span is reported as null (its figures died with it).
 */
export function usageSpan(pids) {
  const alive = (read) => {
    try {
      return read();
    } catch {
      return null;
    }
  };
  const cpuBefore = {};
  for (const [name, pid] of Object.entries(pids)) {
    cpuBefore[name] = alive(() => cpuSeconds(pid));
    resetPeakRss(pid);
  }
  return {
    end() {
      const cpu = {};
      const peakRssBytes = {};
      for (const [name, pid] of Object.entries(pids)) {
        const now = alive(() => cpuSeconds(pid));
        cpu[name] = now === null || cpuBefore[name] === null ? null : now - cpuBefore[name];
        peakRssBytes[name] = alive(() => memoryBytes(pid).peakRss);
      }
      return { cpuSeconds: cpu, peakRssBytes };
    },
  };
}
