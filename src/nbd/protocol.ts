/**
 * NBD protocol numbers (doc/proto.md of NetworkBlockDevice/nbd). All integers are big-endian.
 *
 * Handshake (fixed newstyle):
 *   | server greeting | u64 NBDMAGIC | u64 IHAVEOPT | u16 handshake flags              |
 *   | client flags    | u32                                                            |
 *   | client option   | u64 IHAVEOPT | u32 option   | u32 length | data               |
 *   | option reply    | u64 REPLY_MAGIC | u32 option | u32 reply type | u32 length | data |
 *
 * Transmission:
 *   | request (28 B)       | u32 REQUEST_MAGIC | u16 flags | u16 type | u64 cookie | u64 offset | u32 length |
 *   | simple reply (16 B)  | u32 SIMPLE_REPLY_MAGIC | u32 error | u64 cookie |
 *   | chunk header (20 B)  | u32 STRUCTURED_REPLY_MAGIC | u16 flags | u16 type | u64 cookie | u32 length |
 */
export const NBDMAGIC = 0x4e42444d41474943n;
export const IHAVEOPT = 0x49484156454f5054n;
export const REPLY_MAGIC = 0x0003e889045565a9n;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

export const REQUEST_BYTES = 28;
export const SIMPLE_REPLY_BYTES = 16;
export const CHUNK_HEADER_BYTES = 20;

export const FLAG_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_NO_ZEROES = 1 << 1;
export const CLIENT_FLAGS_KNOWN = FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES;

export const enum Option {
  ExportName = 1,
  Abort = 2,
  List = 3,
  StartTls = 5,
  Info = 6,
  Go = 7,
  StructuredReply = 8,
  ListMetaContext = 9,
  SetMetaContext = 10,
  ExtendedHeaders = 11,
}

export const enum Reply {
  Ack = 1,
  Server = 2,
  Info = 3,
  MetaContext = 4,
  ErrUnsup = 0x80000001,
  ErrPolicy = 0x80000002,
  ErrInvalid = 0x80000003,
  ErrPlatform = 0x80000004,
  ErrTlsReqd = 0x80000005,
  ErrUnknown = 0x80000006,
  ErrShutdown = 0x80000007,
  ErrBlockSizeReqd = 0x80000008,
  ErrTooBig = 0x80000009,
}

export const enum InfoType {
  Export = 0,
  Name = 1,
  Description = 2,
  BlockSize = 3,
}

export const enum Command {
  Read = 0,
  Write = 1,
  Disc = 2,
  Flush = 3,
  Trim = 4,
  Cache = 5,
  WriteZeroes = 6,
  BlockStatus = 7,
}

export const CMD_FLAG_FUA = 1 << 0;
export const CMD_FLAG_NO_HOLE = 1 << 1;
export const CMD_FLAG_DF = 1 << 2;
export const CMD_FLAG_REQ_ONE = 1 << 3;
export const CMD_FLAG_FAST_ZERO = 1 << 4;

export const TX_HAS_FLAGS = 1 << 0;
export const TX_READ_ONLY = 1 << 1;
export const TX_SEND_FLUSH = 1 << 2;
export const TX_SEND_FUA = 1 << 3;
export const TX_SEND_TRIM = 1 << 5;
export const TX_SEND_WRITE_ZEROES = 1 << 6;
export const TX_SEND_DF = 1 << 7;
export const TX_CAN_MULTI_CONN = 1 << 8;
export const TX_SEND_CACHE = 1 << 10;
export const TX_SEND_FAST_ZERO = 1 << 11;

export const enum ChunkType {
  None = 0,
  OffsetData = 1,
  OffsetHole = 2,
  BlockStatus = 5,
  Error = 32769,
  ErrorOffset = 32770,
}
export const CHUNK_FLAG_DONE = 1;

export const STATE_HOLE = 1 << 0;
export const STATE_ZERO = 1 << 1;

export const BASE_ALLOCATION = 'base:allocation';
/** The id whorl gives `base:allocation` when a client selects it. */
export const BASE_ALLOCATION_ID = 1;

export const Errno = {
  OK: 0,
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const;
export type Errno = (typeof Errno)[keyof typeof Errno];

/** Largest READ/WRITE payload whorl accepts (and advertises as the maximum block size). */
export const PAYLOAD_BYTES_MAX = 64 * 1024 * 1024;
/** Longest option whorl buffers; longer ones are skipped without buffering and refused. */
export const OPTION_BYTES_MAX = 64 * 1024;
/** Strings (export names, queries) are at most 4096 bytes by the spec. */
export const STRING_BYTES_MAX = 4096;
