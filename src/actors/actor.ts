import type { Address } from './address.js';
import type { WhorlErrorCode } from '../errors.js';
import type { BufferHandle } from './buffer-pool.js';
import type { SlotFile } from './slot-file.js';

/**
 * What an actor receives. Everything is a message, including replies, timeouts and storage flush
 * completions, so that an actor is one synchronous `receive` and runs the same under the
 * deterministic simulator as on worker threads.
 */
export type Incoming<M> =
  | { readonly kind: 'tell'; readonly from: Address; readonly body: M }
  | { readonly kind: 'request'; readonly from: Address; readonly requestId: number; readonly body: M }
  | { readonly kind: 'reply'; readonly requestId: number; readonly body: unknown }
  | { readonly kind: 'failure'; readonly requestId: number; readonly code: WhorlErrorCode; readonly reason: string }
  | { readonly kind: 'timer'; readonly body: M }
  | { readonly kind: 'flushed'; readonly token: number; readonly ok: boolean };

export type RequestIncoming<M> = Extract<Incoming<M>, { kind: 'request' }>;

/**
 * An actor's private durable state. Writes are visible at once to the actor but survive a crash
 * only once a flush that follows them has completed (a `flushed` message with ok = true).
 */
export interface ActorStorage {
  /** The value, or undefined. It may be a view that is valid only until the next storage call. */
  get(key: string): Uint8Array | undefined;
  /** The caller gives up the value: it must not change it afterwards. */
  put(key: string, value: Uint8Array): void;
  delete(key: string): void;
  /** Entries with from ≤ key < to, in key order, at most `limit` (page through with the last key). */
  range(from: string, to: string, limit?: number): Array<[string, Uint8Array]>;
  /** Keys with from ≤ key < to, in key order, at most `limit`, without reading values. */
  keys(from: string, to: string, limit?: number): string[];
  /** How many keys lie in from ≤ key < to. */
  count(from: string, to: string): number;
  /** The entry with the greatest key in (above, atMost], if any. */
  floor(atMost: string, above: string): [string, Uint8Array] | undefined;
  /**
   * Starts a flush; its completion arrives as a `flushed` message carrying the token. With
   * `keysOnly` it covers the keys alone, not the slots in `blocks` (marks need no block data synced).
   */
  flush(keysOnly?: boolean): number;
  /** Writes accepted but not yet committed (held in memory); absent where nothing is held. */
  readonly backlog?: number;
  /** Bulk data beside the keys (a disk's blocks), covered by the same flushes; absent where none is kept. */
  readonly blocks?: SlotFile;
}

/** Everything an actor may touch outside itself. Nothing global: time and chance come from here. */
export interface ActorContext {
  readonly self: Address;
  readonly incarnation: number;
  /** Monotonic milliseconds, for timeouts and rates. */
  now(): number;
  /** Wall-clock milliseconds since 1970, for timestamps users read (the simulator's is fixed plus its time). */
  wallClockMs(): number;
  random(): number;
  send(to: Address, body: unknown): void;
  /**
   * Sends a request; its reply or failure (timeout, mailbox full, stopped, stale) arrives as a
   * message. With `toIncarnation`, only that incarnation of the target may answer it: a restarted
   * target fails it with WHORL_STALE_INCARNATION instead of acting on it.
   */
  request(to: Address, body: unknown, timeoutMs: number, toIncarnation?: number): number;
  reply(to: RequestIncoming<unknown>, body: unknown): void;
  setTimer(delayMs: number, body: unknown): number;
  cancelTimer(id: number): void;
  readonly storage: ActorStorage;
  /** Takes ownership of a shared buffer: if this incarnation dies holding it, it goes back to the pool. */
  adopt(handle: BufferHandle): void;
  /** Returns an adopted (or any) shared buffer to the pool. */
  release(handle: BufferHandle): void;
  /** The bytes behind a handle (shared memory, no copy); a stale handle throws WHORL_STALE_HANDLE. */
  view(handle: BufferHandle): Buffer;
  log(event: string, fields?: Record<string, unknown>): void;
}

export interface Actor<M = unknown> {
  receive(incoming: Incoming<M>): void;
}

/** Builds an actor; called at start and at every restart, when it rebuilds its state from storage. */
export type Behavior<M = unknown> = (context: ActorContext) => Actor<M>;
