import type { GroupReplyTo, GroupRequest } from '../groups/group-protocol.js';
import { routerFailure } from './router-failure.js';
import type { LostWrites } from './lost-writes.js';

/**
 * The router's FLUSH: every replica and mirror group is asked to flush what it answered, and the
 * account of writes a thread death may have lost (lost-writes.ts) learns which writes it covered.
 */
export class FlushCoordinator {
  private nextToken = 1;

  /** `ask` asks one group (retrying as the router does), `tell` tells it without an answer. */
  constructor(
    private readonly groups: readonly string[],
    private readonly lost: LostWrites,
    private readonly ask: (group: string, body: GroupRequest) => Promise<GroupReplyTo<'flush'>>,
    private readonly tell: (group: string, body: GroupRequest) => void,
  ) {}

  /**
   * Every write answered before this call is flushed on every live copy whose flush succeeded once
   * it resolves (a group none of whose copies flushed refuses, and the FLUSH fails). Each group
   * whose primary disk was flushed is then told to clear its busy bits (its ledger clears only
   * regions every acknowledging copy flushed); one whose primary is out keeps them, and with a
   * server out the other groups still let theirs go. Resolves with whether every group's primary
   * was flushed (`complete`).
   */
  async flush(): Promise<boolean> {
    const token = this.nextToken++;
    const covered = this.lost.beginFlush();
    let replies: Array<GroupReplyTo<'flush'>> = [];
    try {
      replies = await Promise.all(this.groups.map((group) => this.ask(group, { op: 'flush', token })));
    } finally {
      // A group refused: not known durable, the next FLUSH covers these writes again.
      this.lost.endFlush(
        covered,
        replies.some((reply) => !reply.ok),
      );
    }
    const refused = replies.find((reply) => !reply.ok);
    if (refused) throw routerFailure(refused, 'flush failed');
    let complete = true;
    this.groups.forEach((group, index) => {
      if (replies[index]!.ok && replies[index]!.complete) this.tell(group, { op: 'flushed', token });
      else complete = false;
    });
    return complete;
  }
}
