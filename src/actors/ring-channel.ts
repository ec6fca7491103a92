import type { MessagePort } from 'node:worker_threads';
import { assert } from '../assert.js';
import type { SlabDescriptor } from './buffer-pool.js';
import { Ring } from './ring.js';
import { ValueDecoder, ValueEncoder } from './value-codec.js';

/**
 * One thread's end of a two-way channel to another thread: values go out through a shared ring
 * (encoded with ValueEncoder, no structured clone) and come in through the peer's ring. The
 * MessagePort carries only doorbells and new slabs.
 *
 *   | port message          | meaning                                                    |
 *   |-----------------------|------------------------------------------------------------|
 *   | 0                     | doorbell: frames are waiting in your incoming ring          |
 *   | { slabs }             | attach these slabs; frames after them may carry handles     |
 *
 * Frame layout: u32 slabs announced by the sender so far, then values until the frame ends.
 * A frame that names more slabs than have arrived waits for the port message carrying them,
 * so a handle is never read before its slab is attached.
 */
export const ringCapacityBytes = 4 * 1024 * 1024;
/** Values are cut into frames of about this size. */
const frameBytesTarget = 64 * 1024;
/** Frames waiting for room in a full ring, before the channel refuses more. */
export const pendingFramesMax = 1024;
const retryDelayMs = 1;

export interface RingChannelEnds {
  readonly outgoing: SharedArrayBuffer;
  readonly incoming: SharedArrayBuffer;
}

export function ringChannelPair(capacityBytes = ringCapacityBytes): [RingChannelEnds, RingChannelEnds] {
  const a = Ring.create(capacityBytes).buffer;
  const b = Ring.create(capacityBytes).buffer;
  return [
    { outgoing: a, incoming: b },
    { outgoing: b, incoming: a },
  ];
}

export class RingChannel {
  private readonly outgoing: Ring;
  private readonly incoming: Ring;
  private readonly encoder = new ValueEncoder();
  private readonly decoder = new ValueDecoder();
  private readonly pending: Uint8Array[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private slabsSent = 0;
  private slabsReceived = 0;
  private valuesInFrame = 0;

  constructor(
    private readonly port: MessagePort,
    ends: RingChannelEnds,
    private readonly onValue: (value: unknown) => void,
    private readonly onSlabs: (slabs: SlabDescriptor[]) => void,
    private readonly afterDrain: () => void,
  ) {
    this.outgoing = new Ring(ends.outgoing);
    this.incoming = new Ring(ends.incoming);
    port.on('message', (message: 0 | { slabs: SlabDescriptor[] }) => {
      if (message !== 0) {
        this.onSlabs(message.slabs);
        this.slabsReceived += message.slabs.length;
      }
      this.drain();
    });
    port.unref();
    this.encoder.u32(0);
  }

  /** Slabs go ahead of any later frame: the peer attaches them before reading those frames. */
  announceSlabs(slabs: SlabDescriptor[]): void {
    this.flush();
    this.slabsSent += slabs.length;
    this.port.postMessage({ slabs });
  }

  /** Queues a value; it leaves with the next flush (or sooner, when the frame is full). */
  send(value: unknown): void {
    this.encoder.value(value);
    this.valuesInFrame += 1;
    if (this.encoder.written().length >= frameBytesTarget) this.flush();
  }

  get backlogFrames(): number {
    return this.pending.length;
  }

  flush(): void {
    if (this.valuesInFrame === 0) return;
    const frame = this.encoder.written();
    new DataView(frame.buffer, frame.byteOffset).setUint32(0, this.slabsSent, true);
    if (this.pending.length === 0 && this.write(frame)) {
      this.encoder.reset();
    } else {
      assert(this.pending.length < pendingFramesMax, `ring to peer full with ${this.pending.length} frames waiting`);
      this.pending.push(frame.slice());
      this.encoder.reset();
      this.scheduleRetry();
    }
    this.encoder.u32(0);
    this.valuesInFrame = 0;
  }

  close(): void {
    clearTimeout(this.retryTimer);
    this.port.close();
  }

  private write(frame: Uint8Array): boolean {
    const result = this.outgoing.tryWrite(frame);
    if (result === 'wake') this.port.postMessage(0);
    return result !== false;
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      while (this.pending.length > 0 && this.write(this.pending[0]!)) this.pending.shift();
      if (this.pending.length > 0) this.scheduleRetry();
    }, retryDelayMs);
  }

  private drain(): void {
    this.incoming.drain((frame) => {
      const slabsNamed = new DataView(frame.buffer, frame.byteOffset).getUint32(0, true);
      if (slabsNamed > this.slabsReceived) return false;
      this.decoder.start(frame.subarray(4));
      while (!this.decoder.done) this.onValue(this.decoder.value());
      return true;
    });
    this.afterDrain();
  }
}
