import type { Behavior } from './actor.js';
import type { CellStorage } from './cell.js';

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

/**
 * How to open an actor's storage on the thread that runs it, like a BehaviorSpec: the export
 * takes `args` and returns (or resolves to) the CellStorage. Without one an actor gets thread
 * memory, which does not outlive the thread.
 */
export type StorageSpec = BehaviorSpec;

export async function openStorage(spec: StorageSpec): Promise<CellStorage> {
  const loaded = (await import(spec.module)) as Record<string, unknown>;
  const factory = loaded[spec.export];
  if (typeof factory !== 'function') throw new Error(`${spec.module} has no export '${spec.export}'`);
  return (await (factory as (...args: unknown[]) => CellStorage | Promise<CellStorage>)(
    ...(spec.args ?? []),
  )) as CellStorage;
}
