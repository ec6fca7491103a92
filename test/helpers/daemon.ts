import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { daemonNodeFlags } from '../../src/cli/node-flags.js';

export const whorlBin = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface Daemon {
  readonly child: ChildProcess;
  readonly port: number;
  readonly logs: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `whorl serve ARGS` as a real process on a free port and waits (up to `startTimeoutMs`) until it serves. */
export function startDaemon(args: string[], startTimeoutMs = 15_000): Promise<Daemon> {
  const child = spawn(
    process.execPath,
    [...daemonNodeFlags, whorlBin, 'serve', '--nbd-listen', '127.0.0.1:0', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let logs = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    // A daemon that did not start in time is killed: left running, it would hold the test's
    // worker open after the test failed (CI hung 12 minutes on two of them).
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`whorl did not start in ${startTimeoutMs} ms:\n${logs}`));
    }, startTimeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (text: string) => (logs += text));
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      logs += text;
      // Ready once every listener is bound ("serving…" follows them all), not at the first one:
      // a client of a later listener (--nbd-socket) would otherwise race its bind.
      const match = /"address":\{"kind":"tcp","host":"[^"]+","port":(\d+)\}/.exec(logs);
      if (match && /"msg":"serving/.test(logs)) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]), logs: () => logs, exited });
      }
    });
    void exited.then(() => reject(new Error(`whorl exited before listening:\n${logs}`)));
  });
}
