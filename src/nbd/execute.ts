import { assert } from '../assert.js';
import type { BufferPool, Lease } from '../actors/buffer-pool.js';
import { WhorlError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Extent } from './backend.js';
import { errnoFor } from './errno.js';
import { extentsPerReplyMax, fitExtents } from './extents.js';
import type { Negotiated } from './handshake.js';
import {
  CMD_FLAG_DF,
  CMD_FLAG_FAST_ZERO,
  CMD_FLAG_FUA,
  CMD_FLAG_NO_HOLE,
  CMD_FLAG_REQ_ONE,
  Command,
} from './protocol.js';
import type { ReplyWriter } from './reply-writer.js';
import type { Request } from './request.js';

/** Reads at least this long ask the backend where the holes are, so they can go out as holes. */
const sparseReadBytesMin = 64 * 1024;

/**
 * Runs one checked request against the backend and answers it. Backend failures become the
 * protocol's error for that request; the connection carries on. Owns `lease` from here on.
 */
export async function execute(
  request: Request,
  lease: Lease | undefined,
  negotiated: Negotiated,
  pool: BufferPool,
  replies: ReplyWriter,
  log: Logger,
): Promise<void> {
  const { backend } = negotiated;
  const { offsetBytes, lengthBytes, flags } = request;
  const fua = (flags & CMD_FLAG_FUA) !== 0;
  try {
    switch (request.type) {
      case Command.Read:
        return await read(request, negotiated, pool, replies);
      case Command.Write:
        assert(lease || lengthBytes === 0, 'WRITE without its payload');
        if (lease) await backend.write(offsetBytes, lease.bytes, fua);
        break;
      case Command.Flush:
        await backend.flush();
        reportLostWrites(negotiated);
        break;
      case Command.Trim:
        if (lengthBytes > 0) await backend.trim(offsetBytes, lengthBytes, fua);
        break;
      case Command.WriteZeroes:
        if (lengthBytes > 0) {
          const mayTrim = (flags & CMD_FLAG_NO_HOLE) === 0;
          await backend.zero(offsetBytes, lengthBytes, { fua, mayTrim, fastOnly: (flags & CMD_FLAG_FAST_ZERO) !== 0 });
        }
        break;
      case Command.Cache:
        if (lengthBytes > 0) await backend.cache(offsetBytes, lengthBytes);
        break;
      case Command.BlockStatus: {
        const extents = await backend.blockStatus(offsetBytes, lengthBytes);
        const countMax = (flags & CMD_FLAG_REQ_ONE) !== 0 ? 1 : extentsPerReplyMax;
        replies.blockStatus(request, fitExtents(extents, lengthBytes, countMax));
        return;
      }
      default:
        assert(false, `unchecked command ${request.type}`);
    }
    replies.ok(request);
  } catch (error) {
    const errno = errnoFor(error);
    log.warn({ err: error, type: request.type, offsetBytes, lengthBytes, errno }, 'request failed');
    replies.error(request, errno, error instanceof Error ? error.message : 'failed');
  } finally {
    if (lease) pool.release(lease.handle);
  }
}

async function read(request: Request, negotiated: Negotiated, pool: BufferPool, replies: ReplyWriter): Promise<void> {
  const { backend } = negotiated;
  const { offsetBytes, lengthBytes } = request;
  if (lengthBytes === 0) return replies.readData(request, undefined, undefined);
  const lease = await pool.lease(lengthBytes);
  let extents: Extent[] | undefined;
  try {
    const sparse = negotiated.structured && (request.flags & CMD_FLAG_DF) === 0 && lengthBytes >= sparseReadBytesMin;
    if (sparse && backend.readSparse) {
      extents = fitExtents(await backend.readSparse(offsetBytes, lease.bytes), lengthBytes, extentsPerReplyMax);
    } else if (sparse) {
      extents = fitExtents(await backend.blockStatus(offsetBytes, lengthBytes), lengthBytes, extentsPerReplyMax);
    }
    const uncoveredBytes = extents ? lengthBytes - coveredBytes(extents) : 0;
    if (extents && uncoveredBytes > 0) extents.push({ lengthBytes: uncoveredBytes, hole: false, zero: false });
    const readAlready = sparse && backend.readSparse !== undefined;
    if (!readAlready && (!extents || extents.some((extent) => !extent.zero)))
      await backend.read(offsetBytes, lease.bytes);
  } catch (error) {
    pool.release(lease.handle);
    throw error;
  }
  replies.readData(request, lease, extents);
}

function coveredBytes(extents: readonly Extent[]): number {
  let total = 0;
  for (const extent of extents) total += extent.lengthBytes;
  return total;
}

/**
 * A FLUSH vouches for every write answered before it: if writes this connection may have seen
 * answered were lost since its last report, it fails once (EIO), as `fsync` does after a lost
 * write-back, and the next FLUSH vouches only for what came after.
 */
function reportLostWrites(negotiated: Negotiated): void {
  const lost = negotiated.backend.lostWrites?.() ?? 0;
  if (lost <= negotiated.lostWritesReported) return;
  const since = lost - negotiated.lostWritesReported;
  negotiated.lostWritesReported = lost;
  throw new WhorlError(
    'WHORL_IO',
    `writes answered before this FLUSH may have been lost (${since} loss${since === 1 ? '' : 'es'} since this connection's last report)`,
  );
}
