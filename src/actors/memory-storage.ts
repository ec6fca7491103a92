import { floorOf, rangeOf } from './sorted-map-storage.js';
import type { CellStorage } from './cell.js';
import { MemorySlots } from './slot-file.js';

/**
 * Actor storage kept in the thread's memory: flushes complete on the next turn and always
 * succeed. It lives as long as its thread; storage that outlives a thread is the LMDB disk
 * actor's (src/storage).
 */
export class MemoryStorage implements CellStorage {
  private readonly entries = new Map<string, Uint8Array>();
  readonly blocks = new MemorySlots();
  protected nextToken = 1;
  protected flushed: (token: number, ok: boolean) => void = () => undefined;

  get(key: string): Uint8Array | undefined {
    return this.entries.get(key);
  }

  put(key: string, value: Uint8Array): void {
    this.entries.set(key, value);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  range(from: string, to: string, limit?: number): Array<[string, Uint8Array]> {
    return rangeOf(this.entries, from, to, limit);
  }

  keys(from: string, to: string, limit?: number): string[] {
    return rangeOf(this.entries, from, to, limit).map(([key]) => key);
  }

  count(from: string, to: string): number {
    return rangeOf(this.entries, from, to).length;
  }

  floor(atMost: string, above: string): [string, Uint8Array] | undefined {
    return floorOf(this.entries, atMost, above);
  }

  flush(): number {
    const token = this.nextToken++;
    setImmediate(() => this.flushed(token, true));
    return token;
  }

  onFlushed(callback: (token: number, ok: boolean) => void): void {
    this.flushed = callback;
  }

  crash(): void {}
}
