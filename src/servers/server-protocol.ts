import type { DiskReplyTo, DiskRequest } from '../storage/disk-protocol.js';

/** A write or trim of blocks, as a disk actor takes it. */
export type DiskWrite = Extract<DiskRequest, { op: 'write' | 'trim' }>;

/**
 * Requests a server actor answers: every DiskRequest (passed to its disk), and the two of
 * server-driven duplication (CEFT mirror layout):
 *
 *   | op        | from            | meaning                                                       |
 *   |-----------|-----------------|---------------------------------------------------------------|
 *   | duplicate | a mirror group  | write `write` on this server's disk and forward it to server  |
 *   |           |                 | `mirror`; answered when both have answered (`mirror` in the   |
 *   |           |                 | reply). With `early`, a tell `{ op: 'own-written', ref }` goes |
 *   |           |                 | back as soon as this server's own copy has it.                |
 *   | forwarded | another server  | `write` from the primary of a mirror pair, refused once the   |
 *   |           |                 | wall clock passes `notAfterMs`                                |
 *
 * The deadline fences a forward held up past the point where the mirror group gave up on the
 * primary and may have written the mirror itself (a late forward must not overwrite that).
 */
export type ServerRequest =
  | DiskRequest
  | {
      readonly op: 'duplicate';
      readonly ref: number;
      readonly mirror: number;
      readonly notAfterMs: number;
      readonly early: boolean;
      readonly write: DiskWrite;
    }
  | { readonly op: 'forwarded'; readonly notAfterMs: number; readonly write: DiskWrite };

/** The answer to a write or trim, as a disk gives it. */
export type WriteReply = DiskReplyTo<'write' | 'trim'>;

/** The answer to `duplicate`: the primary's own outcome, and its mirror's under `mirror`. */
export type DuplicateReply = WriteReply & { readonly mirror?: WriteReply };

/** What a server answers to request `Body`: a disk request's own reply, or a duplicate's. */
export type ServerReplyTo<Body extends ServerRequest> = Body extends { op: 'duplicate' }
  ? DuplicateReply
  : Body extends { op: 'forwarded' }
    ? WriteReply
    : Body extends DiskRequest
      ? DiskReplyTo<Body['op']>
      : never;

/** Told to the mirror group by the primary when its own copy of an `early` duplicate is written. */
export interface OwnWritten {
  readonly op: 'own-written';
  readonly ref: number;
}
