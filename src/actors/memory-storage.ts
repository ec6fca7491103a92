import type { CellStorage } from './cell.js';

/**
 * Actor storage kept in the thread's memory: flushes complete on the next turn and always
 * succeed. It lives as long as its thread; storage that outlives a thread is the LMDB disk
 * actor's (src/storage).
 */
export class MemoryStorage implements CellStorage {
  private readonly entries = new Map<string, Uint8Array>();
  private nextToken = 1;
  private flushed: (token: number, ok: boolean) => void = () => undefined;

  get(key: string): Uint8Array | undefined {
    return this.entries.get(key);
  }

  put(key: string, value: Uint8Array): void {
    this.entries.set(key, value);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  keys(): string[] {
    return [...this.entries.keys()].sort();
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
