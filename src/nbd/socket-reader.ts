import net from 'node:net';

/** Size of each connection's reusable receive buffer (one read syscall's worth). */
export const receiveBufferBytes = 64 * 1024;

/**
 * Wraps an accepted socket so that every read lands in one reused buffer instead of a freshly
 * allocated 64 KiB Buffer per read. `onBytes` must consume or copy what it is given before it
 * returns: the buffer is overwritten by the next read.
 *
 * Why: measured on the 2-core dev machine, a Node TCP sink took 2,219 MiB/s with 'data' events
 * and 4,357 MiB/s with a reused `onread` buffer (the allocations and their GC were the cost).
 * Node only offers `onread` when constructing a Socket, so the accepted handle is re-wrapped;
 * when that is not possible (no handle, e.g. a future runtime) it falls back to 'data' events.
 */
export function readWithReusedBuffer(accepted: net.Socket, onBytes: (bytes: Buffer) => void): net.Socket {
  const handle = (accepted as unknown as { _handle?: unknown })._handle;
  if (!handle) {
    accepted.on('data', onBytes);
    accepted.resume();
    return accepted;
  }
  const buffer = Buffer.allocUnsafe(receiveBufferBytes);
  const socket = new net.Socket({
    handle,
    onread: {
      buffer,
      callback: (n: number, received: Uint8Array) => {
        onBytes((received as Buffer).subarray(0, n));
        return true;
      },
    },
  } as net.SocketConstructorOpts);
  socket.resume();
  return socket;
}
