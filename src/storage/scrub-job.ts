import fs from 'node:fs';
import path from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { crc32c } from '../actors/crc32c.js';
import { slotBytes } from '../actors/slot-file.js';
import { blocksPerRegion } from './block-keys.js';
import { RegionEntry } from './region-entry.js';
import { blocksFile } from './disk-format.js';

/**
 * A piscina job: verify the CRC32C of the stored blocks of region entries from key `from`
 * (inclusive) of a disk, up to the entry where `limit` blocks are passed, reading its LMDB
 * environment read-only and its block file, beside the disk actor that keeps writing. Returns the
 * blocks whose data do not match their entry (region key and index in the region), and where the
 * next page starts. A block rewritten during the scan is not reported.
 *
 *   | field  | meaning                                          |
 *   |--------|--------------------------------------------------|
 *   | path   | the disk directory                               |
 *   | from   | first key to look at                             |
 *   | to     | end of the region keys (exclusive)               |
 *   | limit  | blocks per job                                   |
 */
export interface ScrubTask {
  readonly path: string;
  readonly from: string;
  readonly to: string;
  readonly limit: number;
}

export interface ScrubPage {
  readonly checked: number;
  readonly corrupt: Array<[key: string, index: number]>;
  readonly next: string | undefined;
}

/** One read-only handle per disk per job thread. */
const disks = new Map<string, { db: RootDatabase<Buffer, string>; blocks: number }>();
const data = Buffer.allocUnsafe(slotBytes);

export default function scrubPage(task: ScrubTask): ScrubPage {
  let disk = disks.get(task.path);
  if (!disk) {
    disk = {
      db: open<Buffer, string>({ path: task.path, encoding: 'binary', readOnly: true }),
      blocks: fs.openSync(path.join(task.path, blocksFile), 'r'),
    };
    disks.set(task.path, disk);
  }
  const suspects: Array<{ key: string; index: number; slot: number; crc: number }> = [];
  let checked = 0;
  let next: string | undefined;
  for (const { key, value } of disk.db.getRange({ start: task.from, end: task.to })) {
    if (checked >= task.limit) {
      next = key;
      break;
    }
    const entry = RegionEntry.of(value);
    for (let i = 0; i < blocksPerRegion; i++) {
      if (entry.state(i) !== 'data') continue;
      checked += 1;
      if (!intact(disk.blocks, entry, i)) suspects.push({ key, index: i, slot: entry.slot(i), crc: entry.crc(i) });
    }
  }
  // The scan reads one LMDB snapshot while the disk keeps writing: a block rewritten since may
  // have had its old slot reused. A suspect is corrupt only if its current slot and CRC are the
  // ones scanned (its neighbours in the region may have changed) and still do not match.
  disk.db.resetReadTxn();
  const corrupt = suspects.filter(({ key, index, slot, crc }) => {
    const now = disk.db.getBinary(key);
    if (now === undefined) return false;
    const entry = RegionEntry.of(now);
    return (
      entry.state(index) === 'data' &&
      entry.slot(index) === slot &&
      entry.crc(index) === crc &&
      !intact(disk.blocks, entry, index)
    );
  });
  return { checked, corrupt: corrupt.map(({ key, index }) => [key, index]), next };
}

function intact(blocks: number, entry: RegionEntry, i: number): boolean {
  return (
    fs.readSync(blocks, data, 0, slotBytes, entry.slot(i) * slotBytes) === slotBytes && crc32c(data) === entry.crc(i)
  );
}
