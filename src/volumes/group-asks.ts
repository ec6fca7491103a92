import type { GroupReplyTo, GroupRequest } from '../groups/group-protocol.js';
import type { RouterMailbox } from './router-mailbox.js';

/** How soon a request to a group that is moving between nodes is sent again. */
const groupRetryMs = 100;
/** What a group that is moving answers: not reachable, not on that node (yet), no view yet. */
const groupMoving = new Set<string>(['WHORL_UNREACHABLE', 'WHORL_ACTOR_STOPPED', 'WHORL_NOT_READY']);

/**
 * Asks a replica group, again until `timeoutMs` has passed while it cannot answer yet: the
 * boundary where its reply, which arrives untyped, takes its request's type. Across nodes
 * (`acrossNodes`) a group moves when its node goes (placement.ts): until this node learns where
 * it runs now, it is unreachable or not there, and clients see a stall, not an error. A group
 * that is not ready (no view yet, or its copies changed while the write waited) is asked again on
 * one host too.
 */
export async function askGroup<Body extends GroupRequest>(
  mailbox: RouterMailbox,
  group: string,
  body: Body,
  timeoutMs: number,
  acrossNodes: boolean,
): Promise<GroupReplyTo<Body['op']>> {
  const deadline = mailbox.context.now() + timeoutMs;
  for (;;) {
    const reply = (await mailbox.ask(group, body, timeoutMs)) as GroupReplyTo<Body['op']>;
    const again = !reply.ok && (reply.code === 'WHORL_NOT_READY' || (groupMoving.has(reply.code) && acrossNodes));
    if (!again || mailbox.context.now() + groupRetryMs > deadline) return reply;
    await mailbox.sleep(groupRetryMs);
  }
}
