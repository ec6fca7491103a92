import { assert } from '../assert.js';

/**
 * Bytes received from a socket and not yet consumed, kept as the chunks the socket delivered (no
 * concatenation). Consumers copy exactly what they need to where it belongs: a request header to
 * a scratch buffer (or read in place), a WRITE payload straight into its shared slab slot.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private first = 0;
  private headOffset = 0;
  private available = 0;

  get length(): number {
    return this.available;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.available += chunk.length;
  }

  /**
   * `n` contiguous bytes without consuming them: a view into the first chunk when it holds them
   * all, otherwise a copy into `scratch`.
   */
  peek(n: number, scratch: Buffer): Buffer {
    assert(n <= this.available && n <= scratch.length, `peek ${n} of ${this.available}`);
    const head = this.chunks[this.first]!;
    if (head.length - this.headOffset >= n) return head.subarray(this.headOffset, this.headOffset + n);
    this.copyOut(scratch, 0, n, false);
    return scratch.subarray(0, n);
  }

  /** Copies up to `n` bytes into `target` at `targetOffset`, consumes them, returns the count. */
  take(target: Uint8Array, targetOffset: number, n: number): number {
    return this.copyOut(target, targetOffset, Math.min(n, this.available), true);
  }

  /** Consumes up to `n` bytes without copying them; returns the count. */
  skip(n: number): number {
    let remaining = Math.min(n, this.available);
    const skipped = remaining;
    while (remaining > 0) {
      const head = this.chunks[this.first]!;
      const step = Math.min(remaining, head.length - this.headOffset);
      this.advance(step, head.length);
      remaining -= step;
    }
    return skipped;
  }

  /** Consumes exactly `n` bytes into a new Buffer (handshake only: options are small). */
  read(n: number): Buffer {
    assert(n <= this.available, `read ${n} of ${this.available}`);
    const out = Buffer.allocUnsafe(n);
    this.copyOut(out, 0, n, true);
    return out;
  }

  /**
   * Replaces what is left with a private copy, for when the pushed chunks are views of a buffer
   * that is about to be reused. Transmission leaves less than one request header behind unless
   * it is applying backpressure, so this copy is small or rare.
   */
  retain(): void {
    if (this.available === 0) return this.clear();
    const rest = this.read(this.available);
    this.clear();
    this.push(rest);
  }

  clear(): void {
    this.chunks = [];
    this.first = 0;
    this.headOffset = 0;
    this.available = 0;
  }

  private copyOut(target: Uint8Array, targetOffset: number, n: number, consume: boolean): number {
    let copied = 0;
    let index = this.first;
    let offset = this.headOffset;
    while (copied < n) {
      const chunk = this.chunks[index]!;
      const step = Math.min(n - copied, chunk.length - offset);
      target.set(chunk.subarray(offset, offset + step), targetOffset + copied);
      copied += step;
      if (consume) {
        this.advance(step, chunk.length);
        index = this.first;
        offset = this.headOffset;
      } else {
        offset += step;
        if (offset === chunk.length) {
          index += 1;
          offset = 0;
        }
      }
    }
    return copied;
  }

  private advance(step: number, headLength: number): void {
    this.headOffset += step;
    this.available -= step;
    if (this.headOffset === headLength) {
      this.chunks[this.first] = undefined as unknown as Buffer;
      this.first += 1;
      this.headOffset = 0;
      if (this.first === this.chunks.length || this.first > 64) {
        this.chunks = this.chunks.slice(this.first);
        this.first = 0;
      }
    }
  }
}
