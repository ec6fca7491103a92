import { isWhorlError, type WhorlErrorCode } from '../errors.js';
import { Errno } from './protocol.js';

const errnoByCode: Partial<Record<WhorlErrorCode, Errno>> = {
  WHORL_BAD_ARGUMENT: Errno.EINVAL,
  WHORL_OUT_OF_RANGE: Errno.EINVAL,
  WHORL_NO_SPACE: Errno.ENOSPC,
  WHORL_READ_ONLY: Errno.EPERM,
  WHORL_NOT_SUPPORTED: Errno.ENOTSUP,
  WHORL_SHUTDOWN: Errno.ESHUTDOWN,
};

/** The NBD error a backend failure becomes; anything unexpected is an I/O error. */
export function errnoFor(error: unknown): Errno {
  if (isWhorlError(error)) return errnoByCode[error.code] ?? Errno.EIO;
  return Errno.EIO;
}
