import type { Socket } from 'node:net';
import tls from 'node:tls';
import { readInPlace, type ReadTarget } from './socket-reader.js';
import type { BufferPool } from '../actors/buffer-pool.js';
import type { Logger } from '../log.js';
import type { ExportCatalog } from './backend.js';
import { ByteQueue } from './byte-queue.js';
import { negotiate, type HandshakeIO } from './handshake.js';
import type { TlsPolicy } from './tls-policy.js';
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

  private socket: Socket;

  /**
   * Takes over an accepted socket that was paused on connect. Where TLS may start, bytes come as
   * 'data' events (a TLS socket takes the stream over); otherwise they land in place.
   */
  constructor(
    accepted: Socket,
    private readonly catalog: ExportCatalog,
    private readonly pool: BufferPool,
    private readonly log: Logger,
    private readonly tls: TlsPolicy = { mode: 'off' },
  ) {
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
    this.socket = tls.mode === 'off' ? readInPlace(accepted, this) : this.dataEvents(accepted);
    this.socket.setNoDelay(true);
    this.watch(this.socket);
  }

  /** Resolves when the socket has closed and every buffer is back in the pool. */
  get done(): Promise<void> {
    return this.finished;
  }

  async run(): Promise<void> {
    const timer = setTimeout(() => this.socket.destroy(), handshakeTimeoutMs);
    try {
      const negotiated = await negotiate(this, this.catalog, this.log, this.tls.mode);
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

  async startTls(): Promise<boolean> {
    const plain = this.socket;
    if (this.queue.length > 0) {
      this.log.info('bytes sent ahead of the TLS handshake; closing');
      plain.destroy();
      return false;
    }
    plain.removeAllListeners('data');
    plain.removeAllListeners('drain');
    const secure = new tls.TLSSocket(plain, this.tls.options);
    this.socket = secure;
    this.watch(secure, true);
    secure.on('data', (bytes: Buffer) => this.onBytes(bytes));
    return new Promise((resolve) => {
      secure.once('secure', () => {
        const refusal = this.tls.options?.requestCert ? peerRefusal(secure) : undefined;
        if (refusal !== undefined) {
          this.log.warn({ reason: refusal }, 'TLS client certificate refused');
          secure.destroy();
          return resolve(false);
        }
        resolve(true);
      });
      secure.once('close', () => resolve(false));
    });
  }

  /** Reads an accepted socket through 'data' events. */
  private dataEvents(accepted: Socket): Socket {
    accepted.on('data', (bytes: Buffer) => this.onBytes(bytes));
    accepted.resume();
    return accepted;
  }

  private watch(socket: Socket, secure = false): void {
    socket.on('drain', () => this.transmission?.pump());
    socket.on('error', (error) => {
      // A failed TLS handshake (wrong CA, wrong key, no client certificate) is the operator's to see.
      if (secure && this.transmission === undefined) this.log.warn({ reason: error.message }, 'TLS handshake failed');
      else this.log.debug({ err: error }, 'socket error');
    });
    socket.on('close', () => this.onClose());
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
    if (this.closed) return;
    this.closed = true;
    this.queue.clear();
    this.wake?.reject(new ConnectionClosed());
    this.wake = undefined;
    this.transmission?.close();
    // Requests still running release their own buffers when they finish.
    void (this.transmission?.whenIdle() ?? Promise.resolve()).then(() => this.resolveFinished());
  }
}

/**
 * Why a client's certificate is not accepted (none, or not signed by the CA), or undefined. A
 * TLSSocket made outside a tls.Server leaves this to its maker: Node's server asks the handle
 * the same way (lib/_tls_wrap.js); a handle that cannot say refuses.
 */
function peerRefusal(secure: tls.TLSSocket): string | undefined {
  if (Object.keys(secure.getPeerCertificate()).length === 0) return 'no client certificate';
  const handle = (secure as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
  if (typeof handle?.verifyError !== 'function') return 'the certificate could not be checked';
  const error = handle.verifyError();
  return error ? `${(error as { code?: string }).code ?? ''} ${error.message}`.trim() : undefined;
}
