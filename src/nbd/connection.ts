import type { Socket } from 'node:net';
import { readInPlace, type ReadTarget } from './socket-reader.js';
import type { BufferPool } from '../actors/buffer-pool.js';
import type { Logger } from '../log.js';
import type { ExportCatalog } from './backend.js';
import { ByteQueue } from './byte-queue.js';
import { negotiate, type HandshakeIO } from './handshake.js';
import { Transmission } from './transmission.js';

/** A client that has not finished its handshake in this long is dropped. */
export const handshakeTimeoutMs = 30_000;

class ConnectionClosed extends Error {}

/** One client connection: handshake, then transmission, then close. */
export class Connection implements HandshakeIO, ReadTarget {
  private readonly queue = new ByteQueue();
  private wake: { resolve: () => void; reject: (error: Error) => void } | undefined;
  private transmission: Transmission | undefined;
  private closed = false;
  private readonly finished: Promise<void>;
  private resolveFinished!: () => void;

  private readonly socket: Socket;

  /** Takes over an accepted socket that was paused on connect. */
  constructor(
    accepted: Socket,
    private readonly catalog: ExportCatalog,
    private readonly pool: BufferPool,
    private readonly log: Logger,
  ) {
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
    const socket = readInPlace(accepted, this);
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('drain', () => this.transmission?.pump());
    socket.on('error', (error) => this.log.debug({ err: error }, 'socket error'));
    socket.on('close', () => this.onClose());
  }

  /** Resolves when the socket has closed and every buffer is back in the pool. */
  get done(): Promise<void> {
    return this.finished;
  }

  async run(): Promise<void> {
    const timer = setTimeout(() => this.socket.destroy(), handshakeTimeoutMs);
    try {
      const negotiated = await negotiate(this, this.catalog, this.log);
      if (!negotiated) {
        this.socket.end(() => this.socket.destroy());
        return;
      }
      this.log.info({ export: negotiated.exportName, structured: negotiated.structured }, 'transmission started');
      this.transmission = new Transmission(this.socket, this.queue, negotiated, this.pool, this.log);
      negotiated.lostWritesReported = negotiated.backend.lostWrites?.() ?? 0;
      negotiated.backend.attach?.();
      void this.finished.then(() => negotiated.backend.detach?.());
      this.transmission.pump();
    } catch (error) {
      if (!(error instanceof ConnectionClosed)) {
        this.log.error({ err: error }, 'handshake failed');
        this.socket.destroy();
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Graceful stop: finish what is in flight, refuse new requests, then close. */
  async shutdown(graceMs: number): Promise<void> {
    if (!this.transmission) {
      this.socket.destroy();
      return this.finished;
    }
    const idle = this.transmission.shutdown();
    const grace = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([idle, grace]);
    this.socket.end(() => this.socket.destroy());
    setTimeout(() => this.socket.destroy(), 1000).unref();
    return this.finished;
  }

  async readExact(n: number): Promise<Buffer> {
    while (this.queue.length < n) await this.waitForData();
    return this.queue.read(n);
  }

  async skip(n: number): Promise<void> {
    let remaining = n;
    for (;;) {
      remaining -= this.queue.skip(remaining);
      if (remaining === 0) return;
      await this.waitForData();
    }
  }

  write(data: Buffer): void {
    if (!this.closed) this.socket.write(data);
  }

  private waitForData(): Promise<void> {
    if (this.closed) return Promise.reject(new ConnectionClosed());
    return new Promise((resolve, reject) => (this.wake = { resolve, reject }));
  }

  directTarget(): Buffer | undefined {
    return this.queue.length === 0 ? this.transmission?.payloadTarget() : undefined;
  }

  onBytesInPlace(n: number): void {
    this.transmission!.payloadArrived(n);
  }

  /** `bytes` is a view of the reused receive buffer: whatever is not consumed now is copied. */
  onBytes(bytes: Buffer): void {
    this.queue.push(bytes);
    if (this.transmission) {
      this.transmission.pump();
    } else {
      const wake = this.wake;
      this.wake = undefined;
      wake?.resolve();
    }
    this.queue.retain();
  }

  private onClose(): void {
    this.closed = true;
    this.queue.clear();
    this.wake?.reject(new ConnectionClosed());
    this.wake = undefined;
    this.transmission?.close();
    // Requests still running release their own buffers when they finish.
    void (this.transmission?.whenIdle() ?? Promise.resolve()).then(() => this.resolveFinished());
  }
}
