import type { BufferHandle } from '../actors/buffer-pool.js';
import type { WhorlErrorCode } from '../errors.js';
import type { MarkKind } from './block-keys.js';
import type { Stamp } from './stamps.js';
import type { Layer } from './versions.js';

/**
 * Who sends a request that changes a disk, and in which term: a replica group's name and its
 * term (raised every time who coordinates the group's writes changes). A disk refuses a fenced
 * request whose term is older than one it has accepted for that group (terms.ts).
 */
export interface Fence {
  readonly group: string;
  readonly term: number;
}

/**
 * Requests a disk actor answers. Blocks are 4 KiB; `handle` covers exactly count × 4096 bytes of
 * shared memory (read: the disk fills it; write: the disk copies from it). The layer above splits
 * unaligned I/O into whole blocks (read-modify-write), so the disk sees only whole blocks.
 *
 *   | op         | answered when                                                        |
 *   |------------|----------------------------------------------------------------------|
 *   | read       | the blocks are in the buffer; `holes` lists blocks that read as zero |
 *   |            | (`base`: older layers asked where the gmap has no version, clones)   |
 *   | write      | visible to reads; with fua, also on stable storage                   |
 *   |            | (write, trim: `stale` regions are marked stale first, in the same    |
 *   |            | turn: they reach stable storage no later than the data, LMDB commits |
 *   |            | being in order)                                                      |
 *   | trim       | the blocks read as zero and their space is free (write-zeroes too)   |
 *   | flush      | everything answered before it is on stable storage                   |
 *   | setMarks   | the busy bits / stale marks are on stable storage (group commit)     |
 *   | clearMarks | busy: at once, reaching disk with a later flush (lazy); stale: once  |
 *   |            | on stable storage                                                    |
 *   | lose       | the block reads as lost (WHORL_CHECKSUM) until written again         |
 *   | listMarks  | at once, from the disk's memory of its marks                         |
 *   | allocated  | at once: `runs` of blocks holding data at `epoch` ([first, count])   |
 *   | drop       | every version of every block of `gmap` is gone and its space free    |
 *   | prune      | every version of `gmap` that no `live` epoch sees is gone (a deleted |
 *   |            | snapshot's blocks), in bounded steps between other requests          |
 *   | heldAlone  | at once: bytes of `gmap` whose data only `epoch` of `live` sees      |
 *   | stats      | at once: allocated and capacity bytes (of one gmap when given)       |
 *
 * write, trim, lose, setMarks, clearMarks and listMarks may carry a `fence`: refused with
 * WHORL_STALE_TERM, changing nothing, when the disk has accepted a newer term of its group.
 */
export type DiskRequest =
  | {
      readonly op: 'read';
      readonly gmap: number;
      readonly epoch: number;
      readonly block: number;
      readonly count: number;
      readonly handle: BufferHandle;
      readonly base?: readonly Layer[];
      /** Answer each block's stamp too (recovery's merge). */
      readonly stamps?: boolean;
    }
  | {
      readonly op: 'write';
      readonly gmap: number;
      readonly epoch: number;
      readonly block: number;
      readonly count: number;
      readonly handle: BufferHandle;
      readonly fua: boolean;
      readonly stale?: readonly number[];
      readonly fence?: Fence;
      /**
       * Each block's CRC32C (as a signed 32-bit integer), when the sender computed them once for
       * both copies: the disk stores them instead of computing its own.
       */
      readonly crcs?: readonly number[];
      /** See `Stamped`. */
      readonly seq?: number;
      readonly stamps?: readonly Stamp[];
    }
  | {
      readonly op: 'trim';
      readonly gmap: number;
      readonly epoch: number;
      readonly block: number;
      readonly count: number;
      readonly fua: boolean;
      readonly base?: readonly Layer[];
      readonly stale?: readonly number[];
      /**
       * Regions where every trimmed block becomes a hole with the trim's stamp, even one that
       * held nothing (block-store.ts): the group's copies may differ there.
       */
      readonly traced?: readonly number[];
      readonly fence?: Fence;
      /** See `Stamped`. */
      readonly seq?: number;
      readonly stamps?: readonly Stamp[];
    }
  | {
      readonly op: 'lose';
      readonly gmap: number;
      readonly epoch: number;
      readonly block: number;
      readonly fence?: Fence;
    }
  | { readonly op: 'flush' }
  | {
      readonly op: 'setMarks' | 'clearMarks';
      readonly kind: MarkKind;
      readonly gmap: number;
      readonly regions: readonly number[];
      readonly fence?: Fence;
    }
  | { readonly op: 'listMarks'; readonly kind: MarkKind; readonly fence?: Fence }
  | {
      readonly op: 'allocated';
      readonly gmap: number;
      readonly epoch: number;
      readonly block: number;
      readonly count: number;
      readonly base?: readonly Layer[];
    }
  | { readonly op: 'drop'; readonly gmap: number }
  | { readonly op: 'prune'; readonly gmap: number; readonly live: readonly number[] }
  | { readonly op: 'heldAlone'; readonly gmap: number; readonly epoch: number; readonly live: readonly number[] }
  | { readonly op: 'stats'; readonly gmap?: number };

/**
 * How a write or trim is stamped (stamps.ts): a group's own write carries `seq`, its number in the
 * group's incarnation, and is stamped (fence term, seq); a recovery copy carries `stamps`, each
 * block's stamp as the source copy stored it. Neither: unstamped, applied unconditionally.
 */
export type Stamped = Pick<Extract<DiskRequest, { op: 'write' }>, 'seq' | 'stamps' | 'fence'>;

/** The stamp(s) a write or trim applies with. */
export function stampsOf(body: Stamped): Stamp | readonly Stamp[] | undefined {
  if (body.stamps) return body.stamps;
  return body.seq === undefined ? undefined : { term: body.fence?.term ?? 0, seq: body.seq };
}

/** A request refused or failed: a stable code (errors.ts) and what went wrong. */
export interface Failure {
  readonly ok: false;
  readonly code: WhorlErrorCode;
  readonly message: string;
}

/** The answer to a request: `ok` with what its kind answers, or a failure. */
export type Answer<Fields extends object = object> = ({ readonly ok: true } & Fields) | Failure;

/** What each kind of disk request answers on success (the table above says when). */
export interface DiskAnswers {
  /** Blocks that read as zeros (no version, a hole, or a base layer's hole). */
  read: {
    readonly holes: number[];
    /** When asked: each block's stamp, null where no version holds it. */
    readonly stamps?: Array<Stamp | null>;
    /** With `stamps`: the epoch each block's version lives in, null where none or a base layer's holds it. */
    readonly epochs?: Array<number | null>;
  };
  write: object;
  trim: object;
  lose: object;
  flush: object;
  setMarks: object;
  clearMarks: object;
  listMarks: { readonly marks: Array<{ gmap: number; region: number }> };
  allocated: { readonly runs: Array<[number, number]> };
  drop: object;
  /** Bytes freed. */
  prune: { readonly bytes: number };
  /** Bytes only that epoch sees. */
  heldAlone: { readonly bytes: number };
  stats: { readonly allocatedBytes: number; readonly capacityBytes: number };
}

export type DiskOp = DiskRequest['op'];

/** Every reply names the disk's incarnation (see disk-actor.ts); tests may omit it when comparing. */
export type DiskReplyTo<Op extends DiskOp> = Answer<DiskAnswers[Op]> & { readonly incarnation?: number };

/** Any disk reply: what a caller that does not know the request's kind may read. */
export type DiskReply = DiskReplyTo<DiskOp>;

/** The most blocks one request may cover (32 MiB, the largest NBD payload). */
export const blocksPerRequestMax = 8192;
