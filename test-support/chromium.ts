/**
 * Debian's Chromium, headless, driven by playwright-core (the driver only: it never downloads a
 * browser). Each launch gets a fresh profile folder, removed at close. Flags keep the browser off
 * the network except for the pages the test opens: no component updates, sync, QUIC or
 * background fetches.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { MissingServerError } from './servers.js';

const CHROMIUM = '/usr/bin/chromium';

export interface Chromium {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/** `timezoneId`: the browser's time zone (tests use one far from UTC, to catch local-time slips). */
export async function startChromium(options: { timezoneId?: string } = {}): Promise<Chromium> {
  if (!fs.existsSync(CHROMIUM)) throw new MissingServerError(CHROMIUM, 'chromium');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'hourglass-chromium-'));
  let context: BrowserContext;
  try {
    // a persistent context is how playwright takes a profile folder of our own (--user-data-dir)
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
      ...(options.timezoneId === undefined ? {} : { timezoneId: options.timezoneId }),
      timeout: 30_000,
    });
  } catch (err) {
    fs.rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  return {
    context,
    async close() {
      try {
        await context.close();
      } finally {
        fs.rmSync(profile, { recursive: true, force: true });
      }
    },
  };
}
