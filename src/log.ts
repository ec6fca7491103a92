import { writeSync } from 'node:fs';
import { pino, destination } from 'pino';
import type { Logger } from 'pino';

export type { Logger } from 'pino';

/** JSON lines for journald and log collectors; `pretty`: one short human line per event. */
export type LogFormat = 'json' | 'pretty';
export const logFormats: readonly LogFormat[] = ['json', 'pretty'];

/**
 * The format a person at a terminal wants: pretty when stderr is a terminal and not under
 * systemd (which sets JOURNAL_STREAM), JSON otherwise.
 */
export function defaultLogFormat(env: NodeJS.ProcessEnv = process.env, stderrIsTty = process.stderr.isTTY): LogFormat {
  return stderrIsTty === true && env['JOURNAL_STREAM'] === undefined ? 'pretty' : 'json';
}

/**
 * Logs, one line per event, to stderr (journald keeps both streams; stdout stays free for command
 * output). The destination is explicit because `process.stdout.fd` is undefined in workers.
 */
export function createLogger(
  level: string,
  bindings: Record<string, unknown> = {},
  format: LogFormat = 'json',
): Logger {
  const options = { level, base: { pid: process.pid, ...bindings } };
  return format === 'pretty' ? pino(options, prettyDestination) : pino(options, destination({ fd: 2, sync: true }));
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

const levelNames: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
/** Fields every line has, shown in its fixed part or not at all. */
const fixedFields = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'thread', 'actor']);

/** Writes pino's JSON lines to stderr as human lines, synchronously (as the JSON destination does). */
const prettyDestination = {
  write(line: string): void {
    writeSync(2, `${prettyLine(line)}\n`);
  },
};

/**
 * One JSON log line as a person reads it:
 *   `12:04:31.207 INFO  thread 1 group-2: server state server=1 from=up to=down why="…"`
 * time (local), level, where it happened (the thread and actor, when the line names them), the
 * message, then the other fields as key=value.
 */
export function prettyLine(json: string): string {
  let event: Record<string, unknown>;
  try {
    event = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.trimEnd();
  }
  const time = typeof event['time'] === 'number' ? new Date(event['time']).toTimeString().slice(0, 8) : '--:--:--';
  const millis = typeof event['time'] === 'number' ? String(event['time'] % 1000).padStart(3, '0') : '---';
  const level = (levelNames[event['level'] as number] ?? String(event['level'])).padEnd(5);
  const where = [
    event['thread'] !== undefined ? `thread ${String(event['thread'])}` : undefined,
    typeof event['actor'] === 'string' ? event['actor'] : undefined,
  ].filter((part) => part !== undefined);
  const fields = Object.entries(event)
    .filter(([key]) => !fixedFields.has(key))
    .map(([key, value]) => `${key}=${fieldText(value)}`);
  const message = typeof event['msg'] === 'string' ? event['msg'] : '';
  return [`${time}.${millis} ${level}`, where.length > 0 ? `${where.join(' ')}:` : '', message, ...fields]
    .filter((part) => part !== '')
    .join(' ');
}

function fieldText(value: unknown): string {
  if (typeof value === 'string') return /^[\w./:@-]+$/.test(value) ? value : JSON.stringify(value);
  if (value !== null && typeof value === 'object' && 'message' in value) {
    return JSON.stringify((value as { message: unknown }).message);
  }
  return JSON.stringify(value);
}
