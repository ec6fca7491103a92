import { ValueDecoder, ValueEncoder } from '../actors/value-codec.js';

/**
 * Frames on a connection between two nodes (all integers little-endian):
 *
 *   | offset      | bytes   | field                                                       |
 *   |-------------|---------|-------------------------------------------------------------|
 *   | 0           | 4       | magic "WHL1"                                                |
 *   | 4           | 1       | type: 1 hello, 2 envelope, 3 ping                           |
 *   | 5           | 3       | zero                                                        |
 *   | 8           | 4       | meta bytes M (at most 1 MiB)                                |
 *   | 12          | 4       | payload count P (at most 64)                                |
 *   | 16          | 4 × P   | each payload's length in bytes (each at most 32 MiB)        |
 *   | 16 + 4P     | M       | meta: the value codec's encoding (actors/value-codec.ts)    |
 *   | 16 + 4P + M | Σ len   | the payloads, one after another                             |
 *
 * hello's meta is `{node, cluster}`, sent once by each side when the connection opens. An
 * envelope's meta is the envelope (actors/envelope.ts) with every buffer handle in its body
 * replaced by `{payload: i}`; payload i carries the handle's bytes (or none, length 0, when the
 * receiver fills the buffer: see node-links.ts). The receiver knows every payload's length before
 * its first byte arrives, so it reads payloads straight into buffers of its own pool. A ping
 * (meta null, no payloads) goes out when a side has sent nothing for a while (peer-link.ts).
 * Strings are interned per connection, in order (the codec's rule): a new connection starts afresh.
 */
export const frameMagic = 0x314c4857; // "WHL1" read as a little-endian u32
export const frameTypes = { hello: 1, envelope: 2, ping: 3 } as const;
export type FrameType = (typeof frameTypes)[keyof typeof frameTypes];
const fixedBytes = 16;
const noBytes = Buffer.alloc(0);
export const metaBytesMax = 1024 * 1024;
export const payloadsMax = 64;
export const payloadBytesMax = 32 * 1024 * 1024;

/** A frame's header and meta as bytes to write; the payloads follow as they are. */
export function encodeFrame(
  encoder: ValueEncoder,
  type: FrameType,
  meta: unknown,
  payloadLengths: readonly number[],
): Buffer {
  encoder.reset();
  encoder.value(meta);
  const metaBytes = encoder.written();
  const head = Buffer.allocUnsafe(fixedBytes + 4 * payloadLengths.length + metaBytes.length);
  head.writeUInt32LE(frameMagic, 0);
  head.writeUInt32LE(type, 4);
  head.writeUInt32LE(metaBytes.length, 8);
  head.writeUInt32LE(payloadLengths.length, 12);
  payloadLengths.forEach((length, i) => head.writeUInt32LE(length, fixedBytes + 4 * i));
  head.set(metaBytes, fixedBytes + 4 * payloadLengths.length);
  return head;
}

/** The bytes of a frame's head (fixed part, payload lengths and meta), from its fixed part; throws if malformed. */
function headBytes(bytes: Buffer, at: number): number {
  if (bytes.readUInt32LE(at) !== frameMagic) throw new Error('not a whorl frame (bad magic)');
  const type = bytes.readUInt32LE(at + 4);
  if (type !== frameTypes.hello && type !== frameTypes.envelope && type !== frameTypes.ping)
    throw new Error(`unknown frame type ${type}`);
  const metaBytes = bytes.readUInt32LE(at + 8);
  const payloads = bytes.readUInt32LE(at + 12);
  if (metaBytes > metaBytesMax) throw new Error(`frame meta of ${metaBytes} bytes (at most ${metaBytesMax})`);
  if (payloads > payloadsMax) throw new Error(`frame with ${payloads} payloads (at most ${payloadsMax})`);
  return fixedBytes + 4 * payloads + metaBytes;
}

/** A frame as the reader hands it over, before its payloads arrive. */
export interface FrameStart {
  readonly type: FrameType;
  readonly meta: unknown;
  readonly payloadLengths: readonly number[];
}

/**
 * What a reader does with each frame: `start` gets the header and meta and returns, per payload,
 * the bytes to read it into (exactly its length; a throwaway buffer to discard it); `end` runs once
 * every payload is in.
 */
export interface FrameSink {
  start(frame: FrameStart): Uint8Array[];
  end(frame: FrameStart): void;
}

type ReadState =
  | { readonly at: 'head'; readonly need: number }
  | { readonly at: 'payload'; readonly frame: FrameStart; readonly into: Uint8Array[]; index: number; filled: number };

/**
 * Reads frames from a byte stream of arbitrary chunks. Bytes of a payload go from each chunk
 * straight into the buffer the sink gave for it. A malformed frame throws (the caller closes the
 * connection): the reader is then unusable.
 */
export class FrameReader {
  private readonly decoder = new ValueDecoder();
  private held = noBytes;
  private state: ReadState = { at: 'head', need: fixedBytes };

  constructor(private readonly sink: FrameSink) {}

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.state.at === 'payload') offset = this.fill(chunk, offset, this.state);
      else offset = this.gather(chunk, offset, this.state.need);
    }
  }

  /**
   * Collects header bytes until `need` are held, then moves on. A head that lies whole in the
   * chunk is read where it is; only one split across chunks is copied together.
   */
  private gather(chunk: Buffer, offset: number, need: number): number {
    if (this.held.length === 0 && chunk.length - offset >= fixedBytes) {
      const whole = headBytes(chunk, offset);
      if (chunk.length - offset >= whole) {
        this.headReady(chunk.subarray(offset, offset + whole));
        return offset + whole;
      }
    }
    const take = Math.min(need - this.held.length, chunk.length - offset);
    this.held = Buffer.concat([this.held, chunk.subarray(offset, offset + take)]);
    if (this.held.length < need) return offset + take;
    const whole = headBytes(this.held, 0);
    if (this.held.length < whole) this.state = { at: 'head', need: whole };
    else this.headReady(this.held);
    return offset + take;
  }

  /** Parses a whole head (`headBytes` has checked its fixed part) and starts reading payloads. */
  private headReady(head: Buffer): void {
    const type = head.readUInt32LE(4);
    const payloads = head.readUInt32LE(12);
    const payloadLengths = Array.from({ length: payloads }, (_, i) => head.readUInt32LE(fixedBytes + 4 * i));
    for (const length of payloadLengths)
      if (length > payloadBytesMax) throw new Error(`frame payload of ${length} bytes (at most ${payloadBytesMax})`);
    this.decoder.start(head.subarray(fixedBytes + 4 * payloads));
    const meta = this.decoder.value();
    if (!this.decoder.done) throw new Error('frame meta has trailing bytes');
    const frame: FrameStart = { type: type as FrameType, meta, payloadLengths };
    const into = this.sink.start(frame);
    if (into.length !== payloads || into.some((bytes, i) => bytes.length !== payloadLengths[i]))
      throw new Error('frame sink gave buffers of the wrong sizes');
    if (this.held.length > 0) this.held = noBytes;
    this.state = { at: 'payload', frame, into, index: 0, filled: 0 };
    this.finishEmpty(this.state);
  }

  private fill(chunk: Buffer, offset: number, state: Extract<ReadState, { at: 'payload' }>): number {
    const target = state.into[state.index]!;
    const take = Math.min(target.length - state.filled, chunk.length - offset);
    target.set(chunk.subarray(offset, offset + take), state.filled);
    state.filled += take;
    this.finishEmpty(state);
    return offset + take;
  }

  /** Steps past full (and empty) payloads; ends the frame when none is left. */
  private finishEmpty(state: Extract<ReadState, { at: 'payload' }>): void {
    while (state.index < state.into.length && state.filled === state.into[state.index]!.length) {
      state.index += 1;
      state.filled = 0;
    }
    if (state.index < state.into.length || this.state !== state) return;
    this.state = { at: 'head', need: fixedBytes };
    this.sink.end(state.frame);
  }
}
