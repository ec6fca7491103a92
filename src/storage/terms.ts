import type { ActorStorage } from '../actors/actor.js';
import { assert } from '../assert.js';
import { termKey, termKeysFrom, termKeysTo } from './block-keys.js';
import type { Fence } from './disk-protocol.js';

/** The longest replica-group name a fence may carry (`mirror-P-M` and `group-P` are far shorter). */
export const groupNameBytesMax = 64;
/** Terms are whole numbers a double holds exactly. */
export const termMax = Number.MAX_SAFE_INTEGER;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Fencing (DESIGN.md, "Fencing is per write, not per lease"): the newest term of each replica
 * group this disk has accepted, kept in its storage and mirrored in memory.
 *
 * A request that changes the disk may carry its group's term. Older than the newest accepted: it
 * is refused and changes nothing, so a coordinator that was replaced (a restarted actor's
 * messages still on their way, a paused or partitioned node) cannot overwrite what its successor
 * wrote. Newer: the term is put in the same storage turn as the request's own changes and before
 * them, so it reaches stable storage no later than they do (LMDB commits in order): once the
 * successor's data is durable here, so is the refusal of the older term, across restarts.
 */
export class Terms {
  private readonly newest = new Map<string, number>();

  constructor(private readonly storage: ActorStorage) {
    for (const [key, value] of storage.range(termKeysFrom, termKeysTo)) {
      this.newest.set(key.slice(termKeysFrom.length), Number(decoder.decode(value)));
    }
  }

  /** The newest term of `group` accepted here (0: none). */
  of(group: string): number {
    return this.newest.get(group) ?? 0;
  }

  /**
   * Accepts `fence` (recording a newer term) or says why not. Requests without a fence (the
   * operator's tools, tests) are not fenced.
   */
  admit(fence: Fence | undefined): string | undefined {
    if (fence === undefined) return undefined;
    const newest = this.of(fence.group);
    if (fence.term < newest) {
      return `${fence.group} term ${fence.term} is older than term ${newest}, which this disk has accepted`;
    }
    if (fence.term > newest) {
      this.storage.put(termKey(fence.group), encoder.encode(String(fence.term)));
      this.newest.set(fence.group, fence.term);
    }
    assert(this.of(fence.group) === fence.term, 'an admitted fence is the newest term');
    return undefined;
  }
}

/** What is wrong with a fence, or undefined (disk-check.ts). */
export function checkFence(fence: unknown): string | undefined {
  if (fence === undefined) return undefined;
  const { group, term } = (fence ?? {}) as Partial<Fence>;
  if (typeof group !== 'string' || group.length === 0 || Buffer.byteLength(group) > groupNameBytesMax)
    return `fence group ${String(group)} is not a name of 1..${groupNameBytesMax} bytes`;
  if (!Number.isInteger(term) || term! < 1 || term! > termMax)
    return `fence term ${String(term)} is not an integer in 1..${termMax}`;
  return undefined;
}
