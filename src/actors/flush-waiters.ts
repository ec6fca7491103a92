import type { ActorStorage } from './actor.js';

/**
 * What an actor does once its storage reports a flush done: `after` asks for a flush and keeps
 * `then` under the flush's token; the actor hands each 'flushed' incoming to `settle`.
 */
export class FlushWaiters {
  private readonly byToken = new Map<number, Array<(ok: boolean) => void>>();

  constructor(private readonly storage: ActorStorage) {}

  after(then: (ok: boolean) => void, keysOnly = false): void {
    const token = this.storage.flush(keysOnly);
    const waiting = this.byToken.get(token) ?? [];
    waiting.push(then);
    this.byToken.set(token, waiting);
  }

  settle(token: number, ok: boolean): void {
    const waiting = this.byToken.get(token) ?? [];
    this.byToken.delete(token);
    for (const then of waiting) then(ok);
  }
}
