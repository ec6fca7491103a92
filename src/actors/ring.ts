import { assert, fail } from '../assert.js';

/**
 * A single-producer single-consumer ring of byte frames in a SharedArrayBuffer, for messages
 * from one thread to another without structured clone.
 *
 *   | bytes        | field     | meaning                                                 |
 *   |--------------|-----------|---------------------------------------------------------|
 *   | 0..3         | written   | bytes ever written (uint32, wraps; Atomics)             |
 *   | 4..7         | read      | bytes ever consumed (uint32, wraps; Atomics)            |
 *   | 8..11        | idle      | 1 while the consumer may be asleep and needs a doorbell |
 *   | 64..64+cap   | frames    | u32 length, bytes, padding to 4; length 0xffffffff     |
 *   |              |           | means "the rest up to the end is unused, wrap to 0"     |
 *
 * Wake-ups are lost-free: the consumer sets `idle` and then re-reads `written`; the producer
 * stores `written` and then exchanges `idle` for 0, ringing the doorbell if it was 1.
 */
const headerBytes = 64;
const wrapMarker = 0xffffffff;
const WRITTEN = 0;
const READ = 1;
const IDLE = 2;

export class Ring {
  readonly capacityBytes: number;
  private readonly header: Int32Array;
  private readonly frames: Uint8Array;
  private readonly view: DataView;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.capacityBytes = buffer.byteLength - headerBytes;
    assert(
      (this.capacityBytes & (this.capacityBytes - 1)) === 0 && this.capacityBytes >= 1024,
      `ring capacity ${this.capacityBytes} is not a power of two ≥ 1024`,
    );
    this.header = new Int32Array(buffer, 0, headerBytes / 4);
    this.frames = new Uint8Array(buffer, headerBytes);
    this.view = new DataView(buffer, headerBytes);
  }

  static create(capacityBytes: number): Ring {
    const ring = new Ring(new SharedArrayBuffer(headerBytes + capacityBytes));
    Atomics.store(ring.header, IDLE, 1);
    return ring;
  }

  get frameBytesMax(): number {
    return this.capacityBytes / 2 - 4;
  }

  /**
   * Appends one frame; false when the ring has no room (the caller keeps it and retries).
   * Returns 'wake' when the consumer was idle and must be woken.
   */
  tryWrite(bytes: Uint8Array): false | 'wake' | 'written' {
    if (bytes.length > this.frameBytesMax) fail(`frame of ${bytes.length} bytes exceeds ${this.frameBytesMax}`);
    let written = Atomics.load(this.header, WRITTEN) >>> 0;
    const used = (written - (Atomics.load(this.header, READ) >>> 0)) >>> 0;
    const need = 4 + ((bytes.length + 3) & ~3);
    const position = written & (this.capacityBytes - 1);
    const tail = this.capacityBytes - position;
    const wraps = need > tail;
    if ((wraps ? tail + need : need) > this.capacityBytes - used) return false;
    let at = position;
    if (wraps) {
      this.view.setUint32(position, wrapMarker, true);
      written = (written + tail) >>> 0;
      at = 0;
    }
    this.view.setUint32(at, bytes.length, true);
    this.frames.set(bytes, at + 4);
    Atomics.store(this.header, WRITTEN, (written + need) | 0);
    return Atomics.exchange(this.header, IDLE, 0) === 1 ? 'wake' : 'written';
  }

  /**
   * Hands every complete frame to `visit` (the view is valid only during the call), then marks
   * the consumer idle unless more arrived meanwhile. A visit that returns false leaves its frame
   * in the ring and ends the drain without marking idle: the caller drains again when it can.
   * Returns the number of frames read.
   */
  drain(visit: (frame: Uint8Array) => boolean, framesMax = Infinity): number {
    let count = 0;
    for (;;) {
      let read = Atomics.load(this.header, READ) >>> 0;
      const written = Atomics.load(this.header, WRITTEN) >>> 0;
      while (read !== written && count < framesMax) {
        const position = read & (this.capacityBytes - 1);
        const length = this.view.getUint32(position, true);
        if (length === wrapMarker) {
          read = (read + this.capacityBytes - position) >>> 0;
          Atomics.store(this.header, READ, read | 0);
          continue;
        }
        if (!visit(this.frames.subarray(position + 4, position + 4 + length))) return count;
        read = (read + 4 + ((length + 3) & ~3)) >>> 0;
        Atomics.store(this.header, READ, read | 0);
        count += 1;
      }
      if (count >= framesMax) return count;
      Atomics.store(this.header, IDLE, 1);
      if (Atomics.load(this.header, WRITTEN) >>> 0 === read) return count;
      Atomics.store(this.header, IDLE, 0);
    }
  }
}
