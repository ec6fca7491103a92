import type { BufferHandle } from '../actors/buffer-pool.js';

/** How a replica group is configured when it is spawned (replica-group.ts). */
export interface GroupOptions {
  /** The actor's name: `group-P` (chained declustering) or `mirror-P-M` (a CEFT mirror pair). */
  readonly name: string;
  readonly primary: number;
  readonly secondary: number;
  readonly servers: number;
  readonly requestTimeoutMs: number;
  /** 64 KiB shared buffers this group owns for recovery copies (leased by the main thread). */
  readonly copyHandles: readonly BufferHandle[];
  /**
   * Mirror pairs: 64 KiB shared buffers for async writes. A write answered before its second copy
   * is written must not depend on the client's buffer (released with the answer): its data is
   * copied into one of these first, which bounds the background lag to their total size.
   */
  readonly lagHandles?: readonly BufferHandle[];
  /** Regions written since the last flush past which the group flushes both copies on its own. */
  readonly busyRegionsMax?: number;
  /**
   * It takes over from an incarnation that ran on another node (placement across hosts): like a
   * restarted one, it counts its primary as restarted, so recovery copies the busy regions from
   * the secondary when the primary returns.
   */
  readonly successor?: boolean;
}

/**
 * Regions a group lets be written without a flush before it flushes both copies itself (256 MiB
 * of 64 KiB regions). Each such region holds a busy bit on the primary's disk and a ledger entry
 * here until a flush lets them go: a client that never sends FLUSH (fio's default, a guest with
 * its cache off) would otherwise grow both without bound, in memory and in what recovery copies
 * after a crash.
 */
export const busyRegionsMaxDefault = 4096;
