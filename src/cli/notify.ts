import { spawn } from 'node:child_process';
import type { Logger } from '../log.js';

/**
 * Tells systemd (Type=notify) that whorl is serving, through the stock `systemd-notify` tool
 * (the unit sets NotifyAccess=all, since the message comes from that child process). Outside
 * systemd, NOTIFY_SOCKET is unset and this does nothing.
 */
export function notifyReady(log: Logger): void {
  if (!process.env.NOTIFY_SOCKET) return;
  const child = spawn('systemd-notify', ['--ready', `--pid=${process.pid}`], { stdio: 'ignore' });
  child.on('error', (error) => log.warn({ err: error }, 'could not notify systemd'));
}
