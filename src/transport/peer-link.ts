import type net from 'node:net';
import { ValueEncoder } from '../actors/value-codec.js';
import { encodeFrame, FrameReader, frameTypes, type FrameSink, type FrameStart } from './frame.js';

/** Who is at the other end, as its hello said. */
export interface Hello {
  readonly node: string;
  readonly cluster: string;
}

export interface LinkHandlers {
  /** The peer's hello arrived: the link carries envelopes from now on. */
  hello(link: PeerLink, hello: Hello): void;
  /** An envelope frame's header and meta: the buffers to read its payloads into (frame.ts). */
  start(link: PeerLink, frame: FrameStart): Uint8Array[];
  end(link: PeerLink, frame: FrameStart): void;
  /** The socket closed (either side, any reason); `reason` says why when it was an error. */
  closed(link: PeerLink, reason: string | undefined): void;
}

/** A link that has sent nothing for this long sends a ping. */
export const pingEveryMs = 500;
/**
 * A link that has heard nothing for this long (while reading) closes: a peer behind a cut network
 * sends no RST, and TCP alone would notice only after many minutes of retransmissions.
 */
export const silenceMs = 2_000;

/**
 * One TCP connection to another node: it says hello first, then carries envelope frames both ways,
 * and pings when idle. A frame that does not parse, or a silence past `silenceMs`, closes the
 * connection (never the process); the node's links (node-links.ts) decide what a closed link means.
 */
export class PeerLink {
  private readonly encoder = new ValueEncoder();
  private readonly reader: FrameReader;
  peer: Hello | undefined;
  private closedWith: string | undefined | null = null;
  private lastHeardMs = Date.now();
  private lastSentMs = Date.now();
  private corked = false;
  private readonly watch: NodeJS.Timeout;

  constructor(
    readonly socket: net.Socket,
    self: Hello,
    private readonly handlers: LinkHandlers,
  ) {
    socket.setNoDelay(true);
    const sink: FrameSink = {
      start: (frame) => this.onStart(frame),
      end: (frame) => {
        if (frame.type === frameTypes.envelope) handlers.end(this, frame);
      },
    };
    this.reader = new FrameReader(sink);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.close(error.message));
    socket.on('close', () => this.close(undefined));
    this.write(frameTypes.hello, self, [], []);
    this.watch = setInterval(() => this.tick(), pingEveryMs / 2);
    this.watch.unref();
  }

  get isClosed(): boolean {
    return this.closedWith !== null;
  }

  /** Bytes handed to the socket and not yet written: what this link has in flight outbound. */
  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  /**
   * Writes one frame. `payloads` go out as they are, without a copy; `done` runs once the socket
   * has written them (their memory may then be reused).
   */
  write(
    type: (typeof frameTypes)[keyof typeof frameTypes],
    meta: unknown,
    payloads: readonly Uint8Array[],
    lengths: readonly number[],
    done?: () => void,
  ): void {
    if (this.isClosed) {
      done?.();
      return;
    }
    this.lastSentMs = Date.now();
    const head = encodeFrame(this.encoder, type, meta, lengths);
    this.batch();
    if (payloads.length === 0) {
      this.socket.write(head, done && (() => done()));
      return;
    }
    this.socket.write(head);
    payloads.forEach((bytes, i) =>
      this.socket.write(bytes, i === payloads.length - 1 && done ? () => done() : undefined),
    );
  }

  /**
   * Frames written in one turn of the event loop leave in one `writev` (a system call per frame
   * was a third of a node's main thread under 4 KiB reads across hosts).
   */
  private batch(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(() => {
      this.corked = false;
      this.socket.uncork();
    });
  }

  close(reason: string | undefined): void {
    if (this.isClosed) return;
    this.closedWith = reason;
    clearInterval(this.watch);
    this.socket.destroy();
    this.handlers.closed(this, reason);
  }

  private tick(): void {
    const now = Date.now();
    // Time spent not reading (backpressure, node-links.ts) is no silence of the peer's.
    if (this.socket.isPaused() || this.socket.connecting) this.lastHeardMs = now;
    if (now - this.lastHeardMs > silenceMs)
      return this.close(`nothing from ${this.peer?.node ?? this.socket.remoteAddress} in ${now - this.lastHeardMs} ms`);
    if (this.peer && now - this.lastSentMs >= pingEveryMs) this.write(frameTypes.ping, null, [], []);
  }

  private onData(chunk: Buffer): void {
    if (this.isClosed) return;
    this.lastHeardMs = Date.now();
    try {
      this.reader.push(chunk);
    } catch (error) {
      this.close(`bad frame from ${this.peer?.node ?? this.socket.remoteAddress}: ${(error as Error).message}`);
    }
  }

  private onStart(frame: FrameStart): Uint8Array[] {
    if (frame.type === frameTypes.hello) {
      if (this.peer) throw new Error('a second hello');
      const hello = frame.meta as Partial<Hello> | null;
      if (typeof hello?.node !== 'string' || typeof hello.cluster !== 'string' || hello.node === '')
        throw new Error('malformed hello');
      if (frame.payloadLengths.length > 0) throw new Error('hello with payloads');
      this.peer = { node: hello.node, cluster: hello.cluster };
      this.handlers.hello(this, this.peer);
      return [];
    }
    if (!this.peer) throw new Error('an envelope before hello');
    if (frame.type === frameTypes.ping) {
      if (frame.payloadLengths.length > 0) throw new Error('ping with payloads');
      return [];
    }
    return this.handlers.start(this, frame);
  }
}
