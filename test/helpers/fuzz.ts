import net from 'node:net';
import { IHAVEOPT } from '../../src/nbd/protocol.js';

/** One fuzz case: the bytes a client sends, and whether it then vanishes at once. */
export interface FuzzCase {
  readonly bytes: Buffer;
  readonly vanish: boolean;
}

/** An option as a client sends it; `lengthBytes` may lie about the data's length. */
export function option(code: number, data: Buffer, lengthBytes = data.length): Buffer {
  const header = Buffer.alloc(16);
  header.writeBigUInt64BE(IHAVEOPT, 0);
  header.writeUInt32BE(code >>> 0, 8);
  header.writeUInt32BE(lengthBytes >>> 0, 12);
  return Buffer.concat([header, data]);
}

/** Connects, sends the case's bytes, then vanishes at once or after 30 ms; resolves when closed. */
export function playCase(port: number, fuzz: FuzzCase): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(fuzz.bytes);
      if (fuzz.vanish) socket.destroy();
      else setTimeout(() => socket.destroy(), 30);
    });
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
  });
}
