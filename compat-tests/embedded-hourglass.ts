/** One embedded Hourglass per test file, on ephemeral ports, with its own temporary DATA_DIR. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ManualClock } from '../core/index.js';
import { parseConfig } from '../runtime/config.js';
import { startEmbedded, type RunningHourglass } from '../runtime/embedded.js';

/** Every sample of the compatibility tests lands in this UTC hour: the clock stands at 21:30. */
export const QUERY_DATE = '2026-11-22';
export const QUERY_HOUR = 21;
const CLOCK_START_MS = Date.UTC(2026, 10, 22, QUERY_HOUR, 30);

export interface HourglassUnderTest {
  readonly statsdPort: number;
  readonly httpPort: number;
  /** The statsd_exporter-style exposition's port. */
  readonly prometheusPort: number;
  readonly clock: ManualClock;
  readonly running: RunningHourglass;
  stop(): Promise<void>;
}

/** `env` adds settings (STATSD_MAPPING_CONFIG...) to the test defaults. */
export async function startHourglass(env: Record<string, string> = {}): Promise<HourglassUnderTest> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'hourglass-compat-'));
  const clock = new ManualClock(CLOCK_START_MS);
  let running: RunningHourglass;
  try {
    const config = parseConfig('all', {
      STATSD_ADDRESS: '127.0.0.1:0',
      HTTP_ADDRESS: '127.0.0.1:0',
      PROMETHEUS_ADDRESS: '127.0.0.1:0',
      DATA_DIR: dataDir,
      FLUSH_INTERVAL_MS: '100',
      LOG_LEVEL: 'silent',
      ...env,
    });
    running = await startEmbedded({ config, clock, rollupThread: false });
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    statsdPort: running.statsdPort,
    httpPort: running.httpPort,
    prometheusPort: running.prometheusPort as number,
    clock,
    running,
    async stop() {
      try {
        await running.close();
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    },
  };
}
