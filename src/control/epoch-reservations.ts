import { epochMax } from '../storage/block-keys.js';
import type { VirtualDisk } from '../model/catalog.js';

/**
 * Reserved epochs let a snapshot move a disk to its next epoch without waiting for the disk's
 * record to reach stable storage (the wait is an fsync, and new writes are held meanwhile). The
 * next epoch is reserved on stable storage ahead of time; a control actor that starts from a
 * record whose reservation is ahead of its epoch cannot tell whether writes used the reserved
 * epoch before the stop, so it moves the disk there: the older epoch is then read through, like
 * any epoch below the current one, and no stray version can surface later above newer writes.
 */

/** The disk with its next epoch reserved (none past the last epoch). */
export function reserveNext(disk: VirtualDisk): VirtualDisk {
  if (disk.epoch >= epochMax) return released(disk);
  return disk.reservedEpoch === disk.epoch + 1 ? disk : { ...disk, reservedEpoch: disk.epoch + 1 };
}

/** The disk as a control actor starting from its stored record serves it: moved to a reservation that was ahead. */
export function resumed(disk: VirtualDisk): VirtualDisk {
  const reserved = disk.reservedEpoch;
  return reserved !== undefined && reserved > disk.epoch ? { ...disk, epoch: reserved } : disk;
}

/** The disk after an orderly stop: no write can use an epoch past `epoch`, so the next start need not move it. */
export function released(disk: VirtualDisk): VirtualDisk {
  if (disk.reservedEpoch === undefined) return disk;
  const { reservedEpoch: _reserved, ...rest } = disk;
  return rest;
}

/**
 * Whether a snapshot may move `disk` to its next epoch at once: the record on stable storage
 * (`durable`) reserves that epoch in the same global map.
 */
export function nextEpochReserved(disk: VirtualDisk, durable: VirtualDisk | undefined): boolean {
  return durable !== undefined && durable.gmap === disk.gmap && (durable.reservedEpoch ?? -1) > disk.epoch;
}
