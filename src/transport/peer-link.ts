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

/**
 * One TCP connection to another node: it says hello first, then carries envelope frames both ways.
 * A frame that does not parse closes the connection (never the process); the node's links
 * (node-links.ts) decide what a closed link means.
 */
export class PeerLink {
  private readonly encoder = new ValueEncoder();
  private readonly reader: FrameReader;
  peer: Hello | undefined;
  private closedWith: string | undefined | null = null;

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
    const head = encodeFrame(this.encoder, type, meta, lengths);
    if (payloads.length === 0) {
      this.socket.write(head, done && (() => done()));
      return;
    }
    this.socket.cork();
    this.socket.write(head);
    payloads.forEach((bytes, i) =>
      this.socket.write(bytes, i === payloads.length - 1 && done ? () => done() : undefined),
    );
    this.socket.uncork();
  }

  close(reason: string | undefined): void {
    if (this.isClosed) return;
    this.closedWith = reason;
    this.socket.destroy();
    this.handlers.closed(this, reason);
  }

  private onData(chunk: Buffer): void {
    if (this.isClosed) return;
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
    return this.handlers.start(this, frame);
  }
}
