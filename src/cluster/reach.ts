import { silenceMs } from '../transport/peer-link.js';

/**
 * Which nodes may coordinate when the network splits them but etcd still sees them all.
 *
 * etcd says which nodes are alive (their lease keys); it cannot say which can reach each other. A
 * node cut off from its peers but not from etcd keeps its key, so placement would leave its
 * replica groups on it, and every gateway's writes to them would fail until the cut healed. The
 * rule: a node coordinates only while it reaches more than half of the live nodes (itself
 * included), or exactly half when its side holds the monitor (the node running the control
 * actor), so that of two equal halves one side goes on. A node that falls short marks itself
 * *isolated* in its etcd record; placement (placement.ts) then puts nothing on it and it gives up
 * the monitor role, so its groups move to the side that can reach the other copies and the control
 * actor. It keeps its key, and takes its groups back when it reaches enough peers again.
 *
 * A peer counts as reached while its link is up, and for `graceMs` after it went down or first
 * appeared: links redial with backoff, and a node just started has not dialled yet.
 */
export interface ReachInput {
  readonly self: string;
  /** Live nodes, by etcd (this one included). */
  readonly live: ReadonlySet<string>;
  /** Peers this node reaches now (per `PeerReach`). */
  readonly reached: ReadonlySet<string>;
  readonly monitor: string | undefined;
}

export function isIsolated(input: ReachInput): boolean {
  const side = new Set([input.self, ...[...input.reached].filter((node) => input.live.has(node))]);
  const total = new Set([input.self, ...input.live]).size;
  if (side.size * 2 > total) return false;
  if (side.size * 2 < total) return true;
  // Two equal halves: the monitor's side goes on. With no monitor, neither side stands down.
  return input.monitor !== undefined && !side.has(input.monitor);
}

export const reachGraceMs = 1_000;
/** How often a node applies the rule. */
export const reachCheckMs = 250;
/**
 * How long a control actor on a node waits for a server's heartbeat before it takes the server
 * down: longer than a cut-off node takes to notice (`silenceMs`), apply the rule and stand down,
 * so that a monitor cut off from its peers gives up its role before it judges their servers (it
 * would otherwise take down servers the other side still uses). The same holds for suspicions:
 * the control actor leaves an unreachable server to its heartbeats.
 */
export const nodeHeartbeatTimeoutMs = silenceMs + reachGraceMs + 2 * reachCheckMs + 500;

/** When each peer's link was last seen down (it counts as reached for `graceMs` after). */
export class PeerReach {
  private readonly downSince = new Map<string, number>();

  constructor(
    private readonly isUp: (node: string) => boolean,
    private readonly graceMs = reachGraceMs,
  ) {}

  /** The peers among `live` reached at `now`. */
  reached(self: string, live: ReadonlySet<string>, now: number): Set<string> {
    const reached = new Set<string>();
    for (const node of this.downSince.keys()) if (!live.has(node)) this.downSince.delete(node);
    for (const node of live) {
      if (node === self) continue;
      if (this.isUp(node)) {
        this.downSince.delete(node);
        reached.add(node);
        continue;
      }
      const since = this.downSince.get(node) ?? now;
      this.downSince.set(node, since);
      if (now - since < this.graceMs) reached.add(node);
    }
    return reached;
  }
}
