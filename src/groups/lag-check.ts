import { regionsOf } from '../model/layout.js';
import type { Background } from './background.js';
import type { Completeness } from './completeness.js';
import type { GroupReplyTo, GroupRequest } from './group-protocol.js';

/** What a lag check is answered from: one incarnation of a mirror group. */
export interface LagCheckFacts {
  readonly incarnation: number;
  readonly primary: number;
  readonly secondary: number;
  readonly background: Background;
  readonly completeness: Completeness;
}

/**
 * Whether a write a group answered early has ended, for a writer whose `caught-up` tell may have
 * been lost: one of this incarnation has ended once it left the background; one of an earlier
 * incarnation (whose end this one cannot know) counts as ended once neither copy of its regions
 * may lack a write the other holds. An ended write's `missed` are the copies incomplete there
 * now: a copy that lacks it is one of them until recovery has given it the write.
 */
export function answerLagCheck(
  body: Extract<GroupRequest, { op: 'lag-check' }>,
  group: LagCheckFacts,
): GroupReplyTo<'lag-check'> {
  const regions = regionsOf(body.block, body.count);
  const running =
    body.incarnation === group.incarnation
      ? group.background.has(body.seq)
      : group.completeness.mayDiffer(body.gmap, regions).length > 0;
  if (running) return { ok: true, caughtUp: false, missed: [] };
  const missed = [group.primary, group.secondary].filter(
    (server) => group.completeness.incomplete(server, body.gmap, regions) !== undefined,
  );
  return { ok: true, caughtUp: true, missed };
}
