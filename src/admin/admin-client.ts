import net from 'node:net';
import { WhorlError } from '../errors.js';
import type { AdminAnswer, AdminRequest } from './admin-protocol.js';

/** Sends one request to a running daemon's admin socket and resolves with its result. */
export function adminRequest(socketPath: string, request: AdminRequest, timeoutMs = 600_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    let buffered = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new WhorlError('WHORL_TIMEOUT', `no answer from the daemon at ${socketPath} in ${timeoutMs / 1000} s`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') {
        reject(
          new WhorlError(
            'WHORL_SHUTDOWN',
            `no whorl daemon is running at ${socketPath} (start one with: whorl serve --data-dir DIR)`,
          ),
        );
      } else reject(error);
    });
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      socket.end();
      const answer = JSON.parse(buffered.slice(0, newline)) as AdminAnswer;
      if (answer.ok) resolve(answer.result);
      else reject(new WhorlError(answer.code as never, answer.message));
    });
  });
}
