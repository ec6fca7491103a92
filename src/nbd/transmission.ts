import type { Socket } from 'node:net';
import { assert } from '../assert.js';
import type { BufferPool, Lease } from '../actors/buffer-pool.js';
import type { Logger } from '../log.js';
import type { ByteQueue } from './byte-queue.js';
import type { Negotiated } from './handshake.js';
import { Command, Errno, REQUEST_BYTES } from './protocol.js';
import { checkRequest, decodeRequest, type CheckContext, type Request } from './request.js';
import { ReplyWriter } from './reply-writer.js';
import { execute } from './execute.js';

/** Requests in flight on one connection; past this the socket is paused (backpressure). */
export const inFlightMax = 256;
/** Payload bytes leased by one connection's requests in flight. */
export const inFlightBytesMax = 128 * 1024 * 1024;

/** Payload remainders at least this long are read straight into their slot, skipping the copy. */
export const directReadBytesMin = 64 * 1024;

type Parse =
  | { kind: 'header' }
  | { kind: 'payload'; request: Request; lease: Lease; receivedBytes: number }
  | { kind: 'discard'; request: Request; remainingBytes: number; errno: Errno }
  | { kind: 'waiting-for-buffer' };

/**
 * The transmission phase of one connection: decodes requests from the byte queue as they arrive,
 * checks each once, runs it against the backend, and answers in completion order.
 */
export class Transmission {
  private parse: Parse = { kind: 'header' };
  private readonly scratch = Buffer.allocUnsafe(REQUEST_BYTES);
  private readonly context: CheckContext;
  private readonly replies: ReplyWriter;
  private inFlight = 0;
  private inFlightBytes = 0;
  private disconnecting = false;
  private shuttingDown = false;
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly socket: Socket,
    private readonly queue: ByteQueue,
    private readonly negotiated: Negotiated,
    private readonly pool: BufferPool,
    private readonly log: Logger,
  ) {
    this.context = {
      sizeBytes: negotiated.backend.sizeBytes(),
      readOnly: negotiated.backend.readOnly,
      structured: negotiated.structured,
      baseAllocation: negotiated.baseAllocation,
    };
    this.replies = new ReplyWriter(socket, pool, negotiated.structured);
  }

  get idle(): boolean {
    return this.inFlight === 0;
  }

  /** Called whenever bytes arrive or a bound frees up. */
  pump(): void {
    while (!this.closed && !this.disconnecting) {
      if (this.inFlight >= inFlightMax || this.inFlightBytes >= inFlightBytesMax) break;
      if (!this.step()) break;
    }
    this.updateFlow();
  }

  /**
   * The rest of the payload being received, when it is large enough to be worth its own read
   * syscall: the socket then reads straight into the shared slot.
   */
  payloadTarget(): Buffer | undefined {
    const parse = this.parse;
    if (parse.kind !== 'payload' || this.closed) return undefined;
    const remainingBytes = parse.request.lengthBytes - parse.receivedBytes;
    if (remainingBytes < directReadBytesMin) return undefined;
    return parse.lease.bytes.subarray(parse.receivedBytes);
  }

  /** `n` payload bytes were read straight into the slot `payloadTarget` gave out. */
  payloadArrived(n: number): void {
    const parse = this.parse;
    assert(parse.kind === 'payload' && parse.receivedBytes + n <= parse.request.lengthBytes, 'payload read in place');
    parse.receivedBytes += n;
    this.pump();
  }

  /** Stop taking work: new requests get ESHUTDOWN; resolves once nothing is in flight. */
  shutdown(): Promise<void> {
    this.shuttingDown = true;
    return this.whenIdle();
  }

  /** The socket is gone: return every buffer this connection holds. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.parse.kind === 'payload') this.pool.release(this.parse.lease.handle);
    this.parse = { kind: 'header' };
    this.replies.close();
  }

  whenIdle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** One parsing step; false when it needs more bytes or must wait. */
  private step(): boolean {
    const parse = this.parse;
    switch (parse.kind) {
      case 'header':
        return this.readHeader();
      case 'payload':
        return this.readPayload(parse);
      case 'discard':
        return this.discardPayload(parse);
      case 'waiting-for-buffer':
        return false;
    }
  }

  private readHeader(): boolean {
    if (this.queue.length < REQUEST_BYTES) return false;
    const request = decodeRequest(this.queue.peek(REQUEST_BYTES, this.scratch));
    this.queue.skip(REQUEST_BYTES);
    if (!request) {
      this.log.info('bad request magic; closing');
      this.socket.destroy();
      return false;
    }
    if (request.type === Command.Disc) {
      this.disconnecting = true;
      // Once the replies are flushed, close both ways: the socket is paused, so the peer's FIN
      // would never be read and a half-close would linger.
      void this.whenIdle().then(() => this.socket.end(() => this.socket.destroy()));
      return false;
    }
    const errno = this.shuttingDown ? Errno.ESHUTDOWN : checkRequest(request, this.context);
    if (request.type === Command.Write) return this.startPayload(request, errno);
    this.begin(request, undefined, errno);
    return true;
  }

  private startPayload(request: Request, errno: Errno): boolean {
    if (errno !== Errno.OK) {
      this.parse = { kind: 'discard', request, remainingBytes: request.lengthBytes, errno };
      return true;
    }
    const lease = this.pool.tryLease(request.lengthBytes);
    if (lease) {
      this.parse = { kind: 'payload', request, lease, receivedBytes: 0 };
      return true;
    }
    this.parse = { kind: 'waiting-for-buffer' };
    this.pool.lease(request.lengthBytes).then(
      (waited) => {
        if (this.closed) return this.pool.release(waited.handle);
        this.parse = { kind: 'payload', request, lease: waited, receivedBytes: 0 };
        this.pump();
      },
      () => this.socket.destroy(),
    );
    return false;
  }

  private readPayload(parse: Extract<Parse, { kind: 'payload' }>): boolean {
    const wanted = parse.request.lengthBytes - parse.receivedBytes;
    if (wanted > 0) parse.receivedBytes += this.queue.take(parse.lease.bytes, parse.receivedBytes, wanted);
    if (parse.receivedBytes < parse.request.lengthBytes) return false;
    this.parse = { kind: 'header' };
    this.begin(parse.request, parse.lease, Errno.OK);
    return true;
  }

  private discardPayload(parse: Extract<Parse, { kind: 'discard' }>): boolean {
    parse.remainingBytes -= this.queue.skip(parse.remainingBytes);
    if (parse.remainingBytes > 0) return false;
    this.parse = { kind: 'header' };
    this.begin(parse.request, undefined, parse.errno);
    return true;
  }

  private begin(request: Request, lease: Lease | undefined, errno: Errno): void {
    this.inFlight += 1;
    const leasedBytes = lease ? lease.bytes.length : 0;
    this.inFlightBytes += leasedBytes;
    const done = (): void => {
      this.inFlight -= 1;
      this.inFlightBytes -= leasedBytes;
      assert(this.inFlight >= 0 && this.inFlightBytes >= 0, 'in-flight accounting');
      if (this.inFlight === 0) this.wakeIdle();
      if (!this.closed) this.pump();
    };
    if (errno !== Errno.OK) {
      if (lease) this.pool.release(lease.handle);
      this.replies.error(request, errno, 'request refused');
      return done();
    }
    execute(request, lease, this.negotiated, this.pool, this.replies, this.log).then(done, (error: unknown) => {
      this.log.error({ err: error }, 'request handler failed');
      this.socket.destroy();
      done();
    });
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }

  private updateFlow(): void {
    if (this.closed) return;
    const full =
      this.inFlight >= inFlightMax ||
      this.inFlightBytes >= inFlightBytesMax ||
      this.parse.kind === 'waiting-for-buffer';
    if (full || this.disconnecting || this.replies.congested) this.socket.pause();
    else this.socket.resume();
  }
}
