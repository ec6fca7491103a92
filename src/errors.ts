/**
 * Operational errors carry a stable `code`; callers branch on the code, never on the message.
 * Programmer errors (broken invariants) are thrown by `assert` and are not WhorlErrors.
 */
export type WhorlErrorCode =
  | 'WHORL_ACTOR_STOPPED'
  | 'WHORL_BAD_ARGUMENT'
  | 'WHORL_CHECKSUM'
  | 'WHORL_DISK_INVALID'
  | 'WHORL_EXPORT_NOT_FOUND'
  | 'WHORL_IO'
  | 'WHORL_MAILBOX_FULL'
  | 'WHORL_NOT_SUPPORTED'
  | 'WHORL_NOT_READY'
  | 'WHORL_NO_SPACE'
  | 'WHORL_OUT_OF_RANGE'
  | 'WHORL_POOL_EXHAUSTED'
  | 'WHORL_READ_ONLY'
  | 'WHORL_SHUTDOWN'
  | 'WHORL_STALE_HANDLE'
  | 'WHORL_STALE_INCARNATION'
  | 'WHORL_STALE_TERM'
  | 'WHORL_TIMEOUT'
  | 'WHORL_TOO_MANY_PENDING'
  | 'WHORL_UNREACHABLE';

export class WhorlError extends Error {
  readonly code: WhorlErrorCode;

  constructor(code: WhorlErrorCode, message: string) {
    super(message);
    this.name = 'WhorlError';
    this.code = code;
  }
}

export function isWhorlError(error: unknown, code?: WhorlErrorCode): error is WhorlError {
  return error instanceof WhorlError && (code === undefined || error.code === code);
}
