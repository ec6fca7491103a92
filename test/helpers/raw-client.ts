import net from 'node:net';
import { ByteQueue } from '../../src/nbd/byte-queue.js';
import {
  BASE_ALLOCATION,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  NBDMAGIC,
  Option,
  REPLY_MAGIC,
  REQUEST_MAGIC,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
} from '../../src/nbd/protocol.js';

export interface OptionReply {
  readonly option: number;
  readonly type: number;
  readonly data: Buffer;
}

export type TransmissionReply =
  | { readonly kind: 'simple'; readonly error: number; readonly cookie: bigint }
  | {
      readonly kind: 'chunk';
      readonly flags: number;
      readonly type: number;
      readonly cookie: bigint;
      readonly data: Buffer;
    };

/**
 * A byte-level NBD client for tests that need to say exactly what goes on the wire: malformed
 * input, pipelining, error numbers. Ordinary behaviour is tested with real clients instead.
 */
export class RawClient {
  private readonly queue = new ByteQueue();
  private waiter: (() => void) | undefined;
  private ended = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.queue.push(chunk);
      this.wake();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.ended = true;
        this.wake();
        resolve();
      }),
    );
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Exactly n bytes, or undefined when the server closed first. */
  async read(n: number, timeoutMs = 5000): Promise<Buffer | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length < n) {
      if (this.ended) return undefined;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} bytes (have ${this.queue.length})`);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 50);
      });
    }
    return this.queue.read(n);
  }

  async mustRead(n: number): Promise<Buffer> {
    const bytes = await this.read(n);
    if (!bytes) throw new Error(`server closed while ${n} bytes were expected`);
    return bytes;
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Reads the greeting and answers with client flags. */
  async greet(clientFlags = FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES): Promise<number> {
    const greeting = await this.mustRead(18);
    if (greeting.readBigUInt64BE(0) !== NBDMAGIC || greeting.readBigUInt64BE(8) !== IHAVEOPT)
      throw new Error('bad greeting');
    const flags = Buffer.alloc(4);
    flags.writeUInt32BE(clientFlags);
    this.write(flags);
    return greeting.readUInt16BE(16);
  }

  sendOption(option: number, data: Buffer = Buffer.alloc(0), lengthBytes = data.length): void {
    const header = Buffer.alloc(16);
    header.writeBigUInt64BE(IHAVEOPT, 0);
    header.writeUInt32BE(option, 8);
    header.writeUInt32BE(lengthBytes, 12);
    this.write(Buffer.concat([header, data]));
  }

  async optionReply(): Promise<OptionReply> {
    const header = await this.mustRead(20);
    if (header.readBigUInt64BE(0) !== REPLY_MAGIC) throw new Error('bad option reply magic');
    const lengthBytes = header.readUInt32BE(16);
    return { option: header.readUInt32BE(8), type: header.readUInt32BE(12), data: await this.mustRead(lengthBytes) };
  }

  /** Option replies up to and including the first ACK or error. */
  async optionReplies(): Promise<OptionReply[]> {
    const replies: OptionReply[] = [];
    for (;;) {
      const reply = await this.optionReply();
      replies.push(reply);
      if (reply.type === 1 || reply.type >= 0x80000000) return replies;
    }
  }

  /** Handshake to transmission with GO; optionally structured replies and base:allocation. */
  async go(
    name = 'default',
    options: { structured?: boolean; metaContext?: boolean; greeted?: boolean } = {},
  ): Promise<OptionReply[]> {
    if (!options.greeted) await this.greet();
    if (options.structured) {
      this.sendOption(Option.StructuredReply);
      await this.optionReplies();
    }
    if (options.metaContext) {
      this.sendOption(Option.SetMetaContext, metaContextData(name, [BASE_ALLOCATION]));
      await this.optionReplies();
    }
    this.sendOption(Option.Go, goData(name, []));
    const replies = await this.optionReplies();
    const last = replies[replies.length - 1]!;
    if (last.type !== 1) throw new Error(`GO failed with ${last.type.toString(16)}`);
    return replies;
  }

  request(
    type: number,
    options: { flags?: number; cookie?: bigint; offset?: bigint | number; length?: number; payload?: Buffer } = {},
  ): void {
    const header = Buffer.alloc(28);
    header.writeUInt32BE(REQUEST_MAGIC, 0);
    header.writeUInt16BE(options.flags ?? 0, 4);
    header.writeUInt16BE(type, 6);
    header.writeBigUInt64BE(options.cookie ?? 1n, 8);
    header.writeBigUInt64BE(BigInt(options.offset ?? 0), 16);
    header.writeUInt32BE(options.length ?? options.payload?.length ?? 0, 24);
    this.write(options.payload ? Buffer.concat([header, options.payload]) : header);
  }

  /** The next reply: a simple reply (READ data is left for the caller) or one structured chunk. */
  async reply(timeoutMs = 5000): Promise<TransmissionReply | undefined> {
    const magic = await this.read(4, timeoutMs);
    if (!magic) return undefined;
    const value = magic.readUInt32BE(0);
    if (value === SIMPLE_REPLY_MAGIC) {
      const rest = await this.mustRead(12);
      return { kind: 'simple', error: rest.readUInt32BE(0), cookie: rest.readBigUInt64BE(4) };
    }
    if (value === STRUCTURED_REPLY_MAGIC) {
      const rest = await this.mustRead(16);
      const data = await this.mustRead(rest.readUInt32BE(12));
      return {
        kind: 'chunk',
        flags: rest.readUInt16BE(0),
        type: rest.readUInt16BE(2),
        cookie: rest.readBigUInt64BE(4),
        data,
      };
    }
    throw new Error(`bad reply magic 0x${value.toString(16)}`);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }
}

export function goData(name: string, infoRequests: number[]): Buffer {
  const nameBytes = Buffer.from(name);
  const out = Buffer.alloc(4 + nameBytes.length + 2 + 2 * infoRequests.length);
  out.writeUInt32BE(nameBytes.length, 0);
  nameBytes.copy(out, 4);
  out.writeUInt16BE(infoRequests.length, 4 + nameBytes.length);
  infoRequests.forEach((info, i) => out.writeUInt16BE(info, 6 + nameBytes.length + 2 * i));
  return out;
}

export function metaContextData(name: string, queries: string[]): Buffer {
  const parts: Buffer[] = [];
  const nameBytes = Buffer.from(name);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(nameBytes.length);
  parts.push(head, nameBytes);
  const count = Buffer.alloc(4);
  count.writeUInt32BE(queries.length);
  parts.push(count);
  for (const query of queries) {
    const queryBytes = Buffer.from(query);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(queryBytes.length);
    parts.push(length, queryBytes);
  }
  return Buffer.concat(parts);
}
