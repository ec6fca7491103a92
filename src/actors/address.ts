/**
 * Where an actor lives, independent of which thread or host runs it: a node (a whorl process,
 * later a host in a multi-host cluster) and an actor id unique on that node. Messages between
 * nodes carry the same addresses, so actor code never changes when an actor moves.
 */
export interface Address {
  readonly node: string;
  readonly actor: string;
}

export function address(node: string, actor: string): Address {
  return { node, actor };
}

export function addressKey(target: Address): string {
  return `${target.node}/${target.actor}`;
}
