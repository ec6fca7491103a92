import { pino, destination } from 'pino';
import type { Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * JSON logs, one line per event, to stderr (journald keeps both streams; stdout stays free for
 * command output). The destination is explicit because `process.stdout.fd` is undefined in workers.
 */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } }, destination({ fd: 2, sync: true }));
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
