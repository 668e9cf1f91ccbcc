import pino from 'pino';
import type { Logger } from '../core/index.js';
import type { LogLevel } from './config.js';

/** One pino logger per process; components take child loggers (`logger.child({ component })`). */
export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { pid: process.pid } });
}
