import {
  CMD_FLAG_DF,
  CMD_FLAG_FAST_ZERO,
  CMD_FLAG_FUA,
  CMD_FLAG_NO_HOLE,
  CMD_FLAG_REQ_ONE,
  Command,
  Errno,
  PAYLOAD_BYTES_MAX,
  REQUEST_MAGIC,
} from './protocol.js';

/**
 * A transmission-phase request, decoded from its 28 bytes:
 *
 *   | offset | size | field                                               |
 *   |--------|------|-----------------------------------------------------|
 *   | 0      | u32  | REQUEST_MAGIC 0x25609513                            |
 *   | 4      | u16  | command flags                                       |
 *   | 6      | u16  | command type                                        |
 *   | 8      | u64  | cookie (kept as two u32 halves, echoed verbatim)    |
 *   | 16     | u64  | offset (beyond 2^53 decodes to Infinity: past any end) |
 *   | 24     | u32  | length                                              |
 */
export interface Request {
  readonly flags: number;
  readonly type: number;
  readonly cookieHigh: number;
  readonly cookieLow: number;
  readonly offsetBytes: number;
  readonly lengthBytes: number;
}

const offsetHighSafeMax = 0x1fffff;

/** Undefined when the magic is wrong: the stream is out of step and the connection must close. */
export function decodeRequest(header: Buffer): Request | undefined {
  if (header.readUInt32BE(0) !== REQUEST_MAGIC) return undefined;
  const offsetHigh = header.readUInt32BE(16);
  const offsetLow = header.readUInt32BE(20);
  return {
    flags: header.readUInt16BE(4),
    type: header.readUInt16BE(6),
    cookieHigh: header.readUInt32BE(8),
    cookieLow: header.readUInt32BE(12),
    offsetBytes: offsetHigh > offsetHighSafeMax ? Infinity : offsetHigh * 2 ** 32 + offsetLow,
    lengthBytes: header.readUInt32BE(24),
  };
}

export interface CheckContext {
  readonly sizeBytes: number;
  readonly readOnly: boolean;
  readonly structured: boolean;
  readonly baseAllocation: boolean;
}

const allowedFlags: Record<number, number> = {
  [Command.Read]: CMD_FLAG_FUA | CMD_FLAG_DF,
  [Command.Write]: CMD_FLAG_FUA,
  [Command.Disc]: CMD_FLAG_FUA,
  [Command.Flush]: CMD_FLAG_FUA,
  [Command.Trim]: CMD_FLAG_FUA,
  [Command.Cache]: CMD_FLAG_FUA,
  [Command.WriteZeroes]: CMD_FLAG_FUA | CMD_FLAG_NO_HOLE | CMD_FLAG_FAST_ZERO,
  [Command.BlockStatus]: CMD_FLAG_FUA | CMD_FLAG_REQ_ONE,
};

/**
 * The one check of a request at the boundary; inner layers trust what passes. Returns the errno
 * to answer with, or OK.
 */
export function checkRequest(request: Request, context: CheckContext): Errno {
  const allowed = allowedFlags[request.type];
  if (allowed === undefined) return Errno.EINVAL;
  if ((request.flags & ~allowed) !== 0) return Errno.EINVAL;
  if ((request.flags & CMD_FLAG_DF) !== 0 && !context.structured) return Errno.EINVAL;
  const { offsetBytes, lengthBytes } = request;
  const pastEnd = offsetBytes + lengthBytes > context.sizeBytes;
  switch (request.type) {
    case Command.Read:
      if (lengthBytes > PAYLOAD_BYTES_MAX) return context.structured ? Errno.EOVERFLOW : Errno.EINVAL;
      return pastEnd ? Errno.EINVAL : Errno.OK;
    case Command.Write:
      if (context.readOnly) return Errno.EPERM;
      if (lengthBytes > PAYLOAD_BYTES_MAX) return context.structured ? Errno.EOVERFLOW : Errno.EINVAL;
      return pastEnd ? Errno.ENOSPC : Errno.OK;
    case Command.WriteZeroes:
      if (context.readOnly) return Errno.EPERM;
      return pastEnd ? Errno.ENOSPC : Errno.OK;
    case Command.Trim:
      if (context.readOnly) return Errno.EPERM;
      return pastEnd ? Errno.EINVAL : Errno.OK;
    case Command.Cache:
      return pastEnd ? Errno.EINVAL : Errno.OK;
    case Command.BlockStatus:
      if (!context.baseAllocation || lengthBytes === 0) return Errno.EINVAL;
      return pastEnd ? Errno.EINVAL : Errno.OK;
    default:
      return Errno.OK;
  }
}
