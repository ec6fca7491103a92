import type { BufferPool } from '../actors/buffer-pool.js';
import { snapshotSeparator, withBase, type ExportTarget } from '../model/catalog.js';
import { WhorlError } from '../errors.js';
import type { Backend, BlockSizes, Extent, ZeroOptions } from '../nbd/backend.js';
import { PAYLOAD_BYTES_MAX } from '../nbd/protocol.js';
import { blockBytes } from '../storage/block-keys.js';
import { blocksPerRequestMax } from '../storage/disk-protocol.js';
import { BlockLocks } from './block-locks.js';
import { piecesOf } from '../model/layout.js';
import type { Router } from './router.js';

/** Pieces of one request in flight at once (a 4 GiB TRIM is 65,536 pieces of 64 KiB). */
const piecesInFlightMax = 64;
/** The widest range one BLOCK_STATUS looks at. */
const statusBytesMax = 32 * 1024 * 1024;

/**
 * One virtual disk as an NBD export. The front end has checked ranges; this layer turns bytes
 * into whole 4 KiB blocks — unaligned writes and zeroes read-modify-write their edge blocks under
 * a lock, unaligned reads read the covering blocks — and hands the blocks, as shared-buffer
 * handles, to the router piece by piece.
 */
export class VolumeBackend implements Backend {
  readonly multiConn = true;
  readonly blockSizes: BlockSizes = { minimumBytes: 1, preferredBytes: blockBytes, maximumBytes: PAYLOAD_BYTES_MAX };
  private readonly edgeLocks = new BlockLocks();

  constructor(
    readonly name: string,
    private readonly router: Router,
    private readonly pool: BufferPool,
    private readonly connections: { attach(name: string): void; detach(name: string): void },
  ) {}

  /** A snapshot (DISK@NAME) is read-only; its disk is not. */
  get readOnly(): boolean {
    return this.name.includes(snapshotSeparator);
  }

  get description(): string {
    const target = this.router.target(this.name);
    if (!target) return `deleted virtual disk or snapshot '${this.name}'`;
    const replicas = `${target.replicas} replica${target.replicas === 1 ? '' : 's'}`;
    if (target.snapshot)
      return `whorl snapshot '${target.snapshot.name}' of virtual disk '${target.disk.name}' (read-only, ${replicas})`;
    return `whorl virtual disk '${target.name}' (${replicas}${target.disk.origin ? `, clone of ${target.disk.origin}` : ''})`;
  }

  sizeBytes(): number {
    return this.router.target(this.name)?.sizeBytes ?? 0;
  }

  attach(): void {
    this.connections.attach(this.name);
  }

  detach(): void {
    this.connections.detach(this.name);
  }

  async read(offsetBytes: number, into: Buffer): Promise<void> {
    if (aligned(offsetBytes, into.length)) {
      const direct = this.pool.handleOf(into);
      if (direct) {
        await this.readBlocks(offsetBytes / blockBytes, into);
        return;
      }
    }
    const first = Math.floor(offsetBytes / blockBytes);
    const last = Math.ceil((offsetBytes + into.length) / blockBytes);
    await this.withScratch((last - first) * blockBytes, async (scratch) => {
      await this.readBlocks(first, scratch);
      scratch.copy(into, 0, offsetBytes - first * blockBytes, offsetBytes - first * blockBytes + into.length);
    });
  }

  /** Aligned reads learn their holes from the disks: no separate BLOCK_STATUS round trip. */
  async readSparse(offsetBytes: number, into: Buffer): Promise<Extent[]> {
    if (!aligned(offsetBytes, into.length) || !this.pool.handleOf(into)) {
      await this.read(offsetBytes, into);
      return [{ lengthBytes: into.length, hole: false, zero: false }];
    }
    const holes = await this.readBlocks(offsetBytes / blockBytes, into);
    if (holes.size === 0) return [{ lengthBytes: into.length, hole: false, zero: false }];
    const blocks = into.length / blockBytes;
    // One extent per run of blocks alike (one object per run, not per block).
    const extents: Extent[] = [];
    for (let first = 0; first < blocks;) {
      const hole = holes.has(first);
      let end = first + 1;
      while (end < blocks && holes.has(end) === hole) end += 1;
      appendExtent(extents, end - first, hole);
      first = end;
    }
    return extents;
  }

  async write(offsetBytes: number, from: Buffer, fua: boolean): Promise<void> {
    if (aligned(offsetBytes, from.length) && this.pool.handleOf(from))
      return this.writeBlocks(offsetBytes / blockBytes, from, fua);
    await this.patch(offsetBytes, from.length, (scratch, at) => from.copy(scratch, at), fua);
  }

  async flush(): Promise<void> {
    await this.router.flush();
  }

  lostWrites(): number {
    return this.router.lostWrites();
  }

  async trim(offsetBytes: number, lengthBytes: number, fua: boolean): Promise<void> {
    // TRIM is advisory: only whole blocks inside the range are freed.
    const first = Math.ceil(offsetBytes / blockBytes);
    const end = Math.floor((offsetBytes + lengthBytes) / blockBytes);
    if (end > first) await this.trimBlocks(first, end - first, fua);
  }

  async zero(offsetBytes: number, lengthBytes: number, options: ZeroOptions): Promise<void> {
    // Whole blocks become holes (thin: reading them gives zeros either way); edges are patched.
    const first = Math.ceil(offsetBytes / blockBytes);
    const end = Math.floor((offsetBytes + lengthBytes) / blockBytes);
    if (end <= first)
      return this.patch(offsetBytes, lengthBytes, (scratch, at) => scratch.fill(0, at, at + lengthBytes), options.fua);
    if (offsetBytes < first * blockBytes)
      await this.patch(
        offsetBytes,
        first * blockBytes - offsetBytes,
        (s, at) => s.fill(0, at, at + first * blockBytes - offsetBytes),
        options.fua,
      );
    await this.trimBlocks(first, end - first, options.fua);
    const tail = offsetBytes + lengthBytes - end * blockBytes;
    if (tail > 0) await this.patch(end * blockBytes, tail, (s, at) => s.fill(0, at, at + tail), options.fua);
  }

  async cache(): Promise<void> {}

  async blockStatus(offsetBytes: number, lengthBytes: number): Promise<Extent[]> {
    const disk = this.target();
    const first = Math.floor(offsetBytes / blockBytes);
    const end = Math.ceil(
      Math.min(offsetBytes + lengthBytes, offsetBytes + statusBytesMax, disk.sizeBytes) / blockBytes,
    );
    const runs = (await this.mapPieces(first, end - first, (piece) => this.router.allocated(disk, piece))).flat();
    const extents: Extent[] = [];
    let at = first;
    for (const [start, count] of runs.sort((a, b) => a[0] - b[0])) {
      appendExtent(extents, start - at, true);
      appendExtent(extents, count, false);
      at = start + count;
    }
    appendExtent(extents, end - at, true);
    // The first extent starts at the block boundary; the front end wants it to start at offsetBytes.
    const skew = offsetBytes - first * blockBytes;
    if (skew > 0) extents[0] = { ...extents[0]!, lengthBytes: extents[0]!.lengthBytes - skew };
    return extents.filter((extent) => extent.lengthBytes > 0);
  }

  private target(): ExportTarget {
    const target = this.router.target(this.name);
    if (!target) throw new WhorlError('WHORL_EXPORT_NOT_FOUND', `virtual disk or snapshot '${this.name}' was deleted`);
    return target;
  }

  /** The disk a write goes to, resolved once the write gate admits it (a snapshot may have moved the epoch). */
  private async writing<T>(run: (disk: ExportTarget) => Promise<T>): Promise<T> {
    if (this.readOnly) throw new WhorlError('WHORL_READ_ONLY', `'${this.name}' is a snapshot: read-only`);
    const gate = this.router.sessions.writeGate(this.name);
    const generation = await gate.enter();
    try {
      return await run(this.target());
    } finally {
      gate.leave(generation);
    }
  }

  /** Reads whole blocks into `into` (pool memory); returns the indexes of blocks that were holes. */
  private async readBlocks(first: number, into: Buffer): Promise<Set<number>> {
    const disk = this.target();
    const handle = this.pool.handleOf(into)!;
    const holes = new Set<number>();
    await this.mapPieces(first, into.length / blockBytes, async (piece) => {
      const pieceHoles = await this.router.read(disk, piece, {
        ...handle,
        offsetBytes: handle.offsetBytes + piece.atBytes,
        lengthBytes: piece.count * blockBytes,
      });
      for (const hole of pieceHoles) holes.add(piece.atBytes / blockBytes + hole);
    });
    return holes;
  }

  private async writeBlocks(first: number, from: Buffer, fua: boolean): Promise<void> {
    const handle = this.pool.handleOf(from)!;
    await this.writing((disk) =>
      this.mapPieces(first, from.length / blockBytes, (piece) =>
        this.router.write(
          disk,
          {
            op: 'write',
            gmap: disk.gmap,
            epoch: disk.epoch,
            replicas: disk.replicas,
            block: piece.block,
            count: piece.count,
            handle: {
              ...handle,
              offsetBytes: handle.offsetBytes + piece.atBytes,
              lengthBytes: piece.count * blockBytes,
            },
            fua,
          },
          piece.unit,
        ),
      ),
    );
  }

  private async trimBlocks(first: number, count: number, fua: boolean): Promise<void> {
    for (let at = 0; at < count; at += blocksPerRequestMax * 64) {
      const n = Math.min(count - at, blocksPerRequestMax * 64);
      await this.writing((disk) =>
        this.mapPieces(first + at, n, (piece) =>
          this.router.write(
            disk,
            {
              op: 'trim',
              gmap: disk.gmap,
              epoch: disk.epoch,
              replicas: disk.replicas,
              block: piece.block,
              count: piece.count,
              fua,
              ...withBase(disk),
            },
            piece.unit,
          ),
        ),
      );
    }
  }

  /** Read-modify-write of the blocks covering [offsetBytes, +lengthBytes), edge blocks locked. */
  private async patch(
    offsetBytes: number,
    lengthBytes: number,
    fill: (scratch: Buffer, at: number) => void,
    fua: boolean,
  ): Promise<void> {
    const first = Math.floor(offsetBytes / blockBytes);
    const last = Math.ceil((offsetBytes + lengthBytes) / blockBytes);
    await this.edgeLocks.with([first, last - 1], () =>
      this.withScratch((last - first) * blockBytes, async (scratch) => {
        const at = offsetBytes - first * blockBytes;
        if (at > 0) await this.readBlocks(first, scratch.subarray(0, blockBytes));
        if ((offsetBytes + lengthBytes) % blockBytes !== 0 && (last - 1 > first || at === 0)) {
          await this.readBlocks(last - 1, scratch.subarray(scratch.length - blockBytes));
        }
        fill(scratch, at);
        await this.writeBlocks(first, scratch, fua);
      }),
    );
  }

  private async withScratch<T>(lengthBytes: number, use: (scratch: Buffer) => Promise<T>): Promise<T> {
    const lease = await this.pool.lease(lengthBytes);
    try {
      return await use(lease.bytes);
    } finally {
      this.pool.release(lease.handle);
    }
  }

  private async mapPieces<T>(
    first: number,
    count: number,
    run: (piece: ReturnType<typeof piecesOf>[number]) => Promise<T>,
  ): Promise<T[]> {
    const pieces = piecesOf(this.target(), first, count);
    if (pieces.length === 1) return [await run(pieces[0]!)];
    const results: T[] = new Array(pieces.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < pieces.length) {
        const index = next++;
        results[index] = await run(pieces[index]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(piecesInFlightMax, pieces.length) }, worker));
    return results;
  }
}

/** Adds `blocks` blocks of data or hole to the end of `extents`, merging with the last one. */
function appendExtent(extents: Extent[], blocks: number, hole: boolean): void {
  if (blocks <= 0) return;
  const last = extents[extents.length - 1];
  if (last && last.hole === hole)
    extents[extents.length - 1] = { ...last, lengthBytes: last.lengthBytes + blocks * blockBytes };
  else extents.push({ lengthBytes: blocks * blockBytes, hole, zero: hole });
}

function aligned(offsetBytes: number, lengthBytes: number): boolean {
  return offsetBytes % blockBytes === 0 && lengthBytes % blockBytes === 0;
}
