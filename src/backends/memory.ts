import { zeroFill } from '../actors/buffer-pool.js';
import { assert } from '../assert.js';
import type { Backend, BlockSizes, Extent, ZeroOptions } from '../nbd/backend.js';
import { PAYLOAD_BYTES_MAX } from '../nbd/protocol.js';

/** Allocation unit of the memory backend; untouched pages take no memory and read as zeros. */
export const pageBytes = 64 * 1024;

/**
 * A sparse in-memory disk, like nbdkit's memory plugin: for development and protocol tests. It
 * loses everything when the process exits. Every connection sees the same pages and a write is
 * visible as soon as it is answered, so FLUSH has nothing to do and multi-conn is safe.
 */
export interface MemoryBackendOptions {
  readonly readOnly?: boolean;
  readonly description?: string;
}

export class MemoryBackend implements Backend {
  readonly readOnly: boolean;
  readonly description: string;
  readonly multiConn = true;
  readonly blockSizes: BlockSizes = { minimumBytes: 1, preferredBytes: 4096, maximumBytes: PAYLOAD_BYTES_MAX };
  private readonly pages = new Map<number, Buffer>();

  constructor(
    private readonly size: number,
    options: MemoryBackendOptions = {},
  ) {
    assert(Number.isSafeInteger(size) && size >= 0, `memory backend size ${size}`);
    this.readOnly = options.readOnly ?? false;
    this.description = options.description ?? 'whorl memory disk (not durable)';
  }

  sizeBytes(): number {
    return this.size;
  }

  get allocatedBytes(): number {
    return this.pages.size * pageBytes;
  }

  async read(offsetBytes: number, into: Buffer): Promise<void> {
    this.forEachPiece(offsetBytes, into.length, (page, inPage, at, n) => {
      const stored = this.pages.get(page);
      if (stored) stored.copy(into, at, inPage, inPage + n);
      else zeroFill(into, at, at + n);
    });
  }

  async write(offsetBytes: number, from: Buffer, _fua: boolean): Promise<void> {
    this.forEachPiece(offsetBytes, from.length, (page, inPage, at, n) => {
      from.copy(this.pageFor(page), inPage, at, at + n);
    });
  }

  async flush(): Promise<void> {}

  async trim(offsetBytes: number, lengthBytes: number, _fua: boolean): Promise<void> {
    this.forEachPiece(offsetBytes, lengthBytes, (page, inPage, _at, n) => {
      if (n === pageBytes) this.pages.delete(page);
      else this.pages.get(page)?.fill(0, inPage, inPage + n);
    });
  }

  async zero(offsetBytes: number, lengthBytes: number, options: ZeroOptions): Promise<void> {
    if (options.mayTrim) return this.trim(offsetBytes, lengthBytes, options.fua);
    this.forEachPiece(offsetBytes, lengthBytes, (page, inPage, _at, n) => {
      this.pageFor(page).fill(0, inPage, inPage + n);
    });
  }

  async cache(): Promise<void> {}

  async blockStatus(offsetBytes: number, lengthBytes: number): Promise<Extent[]> {
    const extents: Extent[] = [];
    this.forEachPiece(offsetBytes, lengthBytes, (page, _inPage, _at, n) => {
      const hole = !this.pages.has(page);
      const last = extents[extents.length - 1];
      if (last && last.hole === hole) extents[extents.length - 1] = { ...last, lengthBytes: last.lengthBytes + n };
      else extents.push({ lengthBytes: n, hole, zero: hole });
    });
    return extents;
  }

  private pageFor(page: number): Buffer {
    let stored = this.pages.get(page);
    if (!stored) {
      stored = Buffer.alloc(pageBytes);
      this.pages.set(page, stored);
    }
    return stored;
  }

  /** Calls `visit(page, offsetInPage, offsetInRange, bytes)` for each page the range touches. */
  private forEachPiece(
    offsetBytes: number,
    lengthBytes: number,
    visit: (page: number, inPage: number, at: number, n: number) => void,
  ): void {
    assert(offsetBytes + lengthBytes <= this.size, `range ${offsetBytes}+${lengthBytes} past ${this.size}`);
    let at = 0;
    while (at < lengthBytes) {
      const position = offsetBytes + at;
      const page = Math.floor(position / pageBytes);
      const inPage = position - page * pageBytes;
      const n = Math.min(pageBytes - inPage, lengthBytes - at);
      visit(page, inPage, at, n);
      at += n;
    }
  }
}
