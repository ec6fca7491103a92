import type { Socket } from 'node:net';
import type { BufferPool, Lease } from '../actors/buffer-pool.js';
import type { Extent } from './backend.js';
import { BASE_ALLOCATION_ID, Command, Errno } from './protocol.js';
import * as encode from './replies.js';
import type { Request } from './request.js';

/** Bytes queued in the socket past which the connection stops reading new requests. */
export const socketQueuedBytesMax = 4 * 1024 * 1024;

/**
 * Writes replies to one socket. Replies produced in the same tick go out in one writev (cork until
 * the next tick). READ data is written straight from its shared slab slot; the slot goes back to
 * the pool only when the socket has finished with it.
 */
export class ReplyWriter {
  private corked = false;
  private closed = false;
  private readonly leased = new Set<Lease>();

  constructor(
    private readonly socket: Socket,
    private readonly pool: BufferPool,
    private readonly structured: boolean,
  ) {}

  get congested(): boolean {
    return this.socket.writableLength > socketQueuedBytesMax;
  }

  ok(request: Request): void {
    this.send(encode.simpleReply(request, Errno.OK));
  }

  error(request: Request, errno: Errno, message: string): void {
    const needsChunk = this.structured && (request.type === Command.Read || request.type === Command.BlockStatus);
    this.send(needsChunk ? encode.errorChunk(request, errno, message) : encode.simpleReply(request, errno));
  }

  /**
   * A successful READ. `extents`, when given, mark which parts read as zeros so a structured reply
   * can send them as holes instead of bytes.
   */
  readData(request: Request, lease: Lease | undefined, extents: readonly Extent[] | undefined): void {
    if (this.closed) {
      if (lease) this.pool.release(lease.handle);
      return;
    }
    if (!this.structured) {
      this.send(encode.simpleReply(request, Errno.OK));
      if (lease) this.sendLeased(lease, [lease.bytes]);
      return;
    }
    if (!lease || request.lengthBytes === 0) {
      if (lease) this.pool.release(lease.handle);
      this.send(encode.noneChunk(request));
      return;
    }
    const parts = extents ?? [{ lengthBytes: request.lengthBytes, hole: false, zero: false }];
    const data: Buffer[] = [];
    let at = 0;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const done = i === parts.length - 1;
      const offsetBytes = request.offsetBytes + at;
      if (part.zero) {
        this.send(encode.holeChunk(request, done, offsetBytes, part.lengthBytes));
      } else {
        this.send(encode.dataChunkPrefix(request, done, offsetBytes, part.lengthBytes));
        this.send(lease.bytes.subarray(at, at + part.lengthBytes));
        data.push(lease.bytes);
      }
      at += part.lengthBytes;
    }
    if (data.length === 0) this.pool.release(lease.handle);
    else this.releaseWhenWritten(lease);
  }

  blockStatus(request: Request, extents: readonly Extent[]): void {
    this.send(encode.blockStatusChunk(request, BASE_ALLOCATION_ID, extents));
  }

  /** The socket is gone: pending writes will never complete, so their slots come back now. */
  close(): void {
    this.closed = true;
    for (const lease of this.leased) this.pool.release(lease.handle);
    this.leased.clear();
  }

  private send(bytes: Buffer): void {
    if (this.closed) return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(bytes);
  }

  private sendLeased(lease: Lease, pieces: Buffer[]): void {
    for (const piece of pieces) this.send(piece);
    this.releaseWhenWritten(lease);
  }

  /** Everything queued on the socket so far, the slot's bytes included, is written in order. */
  private releaseWhenWritten(lease: Lease): void {
    this.leased.add(lease);
    this.socket.write(emptyBytes, () => {
      if (this.leased.delete(lease)) this.pool.release(lease.handle);
    });
  }
}

const emptyBytes = Buffer.alloc(0);
