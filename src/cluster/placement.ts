import { orderersOf } from '../model/layout.js';
import type { SlotRecord } from '../etcd/cluster-keys.js';

/**
 * Which node runs each replica group (chained and mirror pairs alike) across hosts: the node of
 * the group's primary server while that node is alive (its etcd key exists), else the node of its
 * secondary — the surviving copy, which then writes alone and marks what it writes stale for the
 * primary's return. Every node
 * computes this from the same etcd state, so they agree once they have seen the same changes; while
 * they have not, two incarnations of a group may both run for a moment, and the term fences the
 * older one (replica-group.ts, storage/terms.ts).
 *
 * Mirror pairs run like chained groups here, on a worker of their primary's node, with no lag
 * buffers: their async protocols answer once both copies have a write.
 */
export function placedGroups(servers: number): Array<{ name: string; primary: number; secondary: number }> {
  return orderersOf(servers);
}

export function groupNodes(
  servers: number,
  slots: ReadonlyMap<number, SlotRecord>,
  live: ReadonlySet<string>,
): Map<string, string | undefined> {
  const nodes = new Map<string, string | undefined>();
  const alive = (server: number): string | undefined => {
    const node = slots.get(server)?.node;
    return node !== undefined && live.has(node) ? node : undefined;
  };
  for (const group of placedGroups(servers)) nodes.set(group.name, alive(group.primary) ?? alive(group.secondary));
  return nodes;
}
