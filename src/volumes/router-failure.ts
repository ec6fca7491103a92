import type { ControlReply } from '../control/control-protocol.js';
import { WhorlError } from '../errors.js';
import type { DiskReply } from '../storage/disk-protocol.js';

/** The error a router request fails with: the reply's own, a stopped or silent actor as EIO. */
export function routerFailure(reply: DiskReply | ControlReply | undefined, fallback: string): WhorlError {
  if (reply && !reply.ok)
    return new WhorlError(
      reply.code === 'WHORL_ACTOR_STOPPED' || reply.code === 'WHORL_TIMEOUT' ? 'WHORL_IO' : reply.code,
      `${fallback}: ${reply.message}`,
    );
  return new WhorlError('WHORL_IO', fallback);
}
