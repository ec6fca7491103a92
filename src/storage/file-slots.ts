import fs from 'node:fs';
import { slotBytes, type SlotFile } from '../actors/slot-file.js';
import { WhorlError } from '../errors.js';

/**
 * A disk's block data: one plain file of 4 KiB slots (`blocks` in the disk directory), written
 * with pwrite into the page cache and made durable with fdatasync when the storage flushes. The
 * calls are synchronous: the disk actor owns its worker thread, and a 4 KiB pwrite costs less than
 * a hand-off to libuv's pool would.
 */
export class FileSlots implements SlotFile {
  private readonly fd: number;
  private closed = false;

  constructor(
    readonly path: string,
    create: boolean,
  ) {
    this.fd = fs.openSync(path, create ? 'w+' : 'r+');
  }

  read(slot: number, into: Uint8Array): void {
    let done = 0;
    while (done < into.length) {
      const got = this.io(
        () => fs.readSync(this.fd, into, done, into.length - done, slot * slotBytes + done),
        'read',
        slot,
      );
      if (got === 0) break;
      done += got;
    }
    // Past the end of the file: slots never written.
    if (done < into.length) into.fill(0, done);
  }

  write(slot: number, data: Uint8Array): void {
    let done = 0;
    while (done < data.length)
      done += this.io(
        () => fs.writeSync(this.fd, data, done, data.length - done, slot * slotBytes + done),
        'write',
        slot,
      );
  }

  /** Resolves once every write made before the call is on stable storage. */
  sync(): Promise<void> {
    return new Promise((resolve, reject) => fs.fdatasync(this.fd, (error) => (error ? reject(error) : resolve())));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.sync();
    fs.closeSync(this.fd);
  }

  /** An operating-system error is the caller's I/O error, naming the file and slot. */
  private io<T>(call: () => T, what: string, slot: number): T {
    try {
      return call();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code === 'ENOSPC' ? 'WHORL_NO_SPACE' : 'WHORL_IO';
      throw new WhorlError(code, `${what} of slot ${slot} in ${this.path} failed: ${(error as Error).message}`);
    }
  }
}
