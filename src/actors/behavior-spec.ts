import type { Behavior } from './actor.js';

/**
 * How to build an actor on any thread: a module (absolute path or URL of compiled JS), the name
 * of an export that takes `args` and returns a Behavior. Behaviors are code, so they cannot be
 * posted between threads; their spec can.
 */
export interface BehaviorSpec {
  readonly module: string;
  readonly export: string;
  readonly args?: readonly unknown[];
}

export async function loadBehavior(spec: BehaviorSpec): Promise<Behavior> {
  const loaded = (await import(spec.module)) as Record<string, unknown>;
  const factory = loaded[spec.export];
  if (typeof factory !== 'function') throw new Error(`${spec.module} has no export '${spec.export}'`);
  return (factory as (...args: unknown[]) => Behavior)(...(spec.args ?? []));
}
