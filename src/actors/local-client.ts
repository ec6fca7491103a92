import type { Actor, Incoming } from './actor.js';
import { address, type Address } from './address.js';
import { WhorlError } from '../errors.js';
import type { ActorRuntime } from './runtime.js';

export interface LocalClient {
  /**
   * Resolves with the reply's body; rejects with a WhorlError (timeout, stopped, …) on failure.
   * A name is an actor of this node; an address may name another node's.
   */
  request<R = unknown>(actor: string | Address, body: unknown, timeoutMs?: number): Promise<R>;
}

/**
 * Promise-style requests from plain code on the main thread (the NBD front end, the CLI's admin
 * server, tests) to actors anywhere, through a main-thread actor named `name`.
 */
export function localClient(runtime: ActorRuntime, name: string): LocalClient {
  const waiting = new Map<number, { resolve: (body: unknown) => void; reject: (error: Error) => void }>();
  let send: ((actor: string | Address, body: unknown, timeoutMs: number) => number) | undefined;
  runtime.spawnLocal(name, (context): Actor => {
    send = (actor, body, timeoutMs) =>
      context.request(typeof actor === 'string' ? address(runtime.node, actor) : actor, body, timeoutMs);
    return {
      receive(incoming: Incoming<unknown>): void {
        if (incoming.kind !== 'reply' && incoming.kind !== 'failure') return;
        const waiter = waiting.get(incoming.requestId);
        waiting.delete(incoming.requestId);
        if (incoming.kind === 'reply') waiter?.resolve(incoming.body);
        else waiter?.reject(new WhorlError(incoming.code, incoming.reason));
      },
    };
  });
  return {
    request: <R>(actor: string | Address, body: unknown, timeoutMs = 10_000) =>
      new Promise<R>((resolve, reject) => {
        waiting.set(send!(actor, body, timeoutMs), { resolve: resolve as (body: unknown) => void, reject });
      }),
  };
}
