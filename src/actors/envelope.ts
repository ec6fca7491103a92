import type { WhorlErrorCode } from '../errors.js';
import type { Address } from './address.js';

/**
 * A message between actors, as it travels (same thread, across threads, later across hosts).
 *
 *   | kind     | fields                                              |
 *   |----------|-----------------------------------------------------|
 *   | tell     | from, to, body                                      |
 *   | request  | from, to, requestId, body, toIncarnation (optional) |
 *   | reply    | from, to, requestId, body                           |
 *   | failure  | from, to, requestId, code, reason                   |
 *
 * Bodies are structured-cloneable values; payload bytes travel as BufferHandles, never inline.
 */
export type Envelope =
  | { readonly kind: 'tell'; readonly from: Address; readonly to: Address; readonly body: unknown }
  | {
      readonly kind: 'request';
      readonly from: Address;
      readonly to: Address;
      readonly requestId: number;
      readonly body: unknown;
      readonly toIncarnation?: number;
    }
  | {
      readonly kind: 'reply';
      readonly from: Address;
      readonly to: Address;
      readonly requestId: number;
      readonly body: unknown;
    }
  | {
      readonly kind: 'failure';
      readonly from: Address;
      readonly to: Address;
      readonly requestId: number;
      readonly code: WhorlErrorCode;
      readonly reason: string;
    };

export function failureFor(
  request: Extract<Envelope, { kind: 'request' }>,
  from: Address,
  code: WhorlErrorCode,
  reason: string,
): Envelope {
  return { kind: 'failure', from, to: request.from, requestId: request.requestId, code, reason };
}
