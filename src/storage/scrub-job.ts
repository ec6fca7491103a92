import fs from 'node:fs';
import path from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { crc32c } from '../actors/crc32c.js';
import { slotBytes } from '../actors/slot-file.js';
import { decodeEntry } from './block-entry.js';
import { blocksFile } from './disk-format.js';

/**
 * A piscina job: verify the CRC32C of up to `limit` stored blocks from key `from` (inclusive) of a
 * disk, reading its LMDB environment read-only and its block file, beside the disk actor that
 * keeps writing. Returns the keys whose data do not match their entry, and where the next page
 * starts.
 *
 *   | field  | meaning                                          |
 *   |--------|--------------------------------------------------|
 *   | path   | the disk directory                               |
 *   | from   | first key to look at                             |
 *   | to     | end of the block keys (exclusive)                |
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
  readonly corrupt: string[];
  readonly next: string | undefined;
}

/** One read-only handle per disk per job thread. */
const disks = new Map<string, { db: RootDatabase<Buffer, string>; blocks: number }>();
const data = Buffer.allocUnsafe(slotBytes);

export default function scrubPage(task: ScrubTask): ScrubPage {
  let disk = disks.get(task.path);
  if (!disk) {
    disk = { db: open<Buffer, string>({ path: task.path, encoding: 'binary', readOnly: true }), blocks: fs.openSync(path.join(task.path, blocksFile), 'r') };
    disks.set(task.path, disk);
  }
  const corrupt: string[] = [];
  let checked = 0;
  let next: string | undefined;
  for (const { key, value } of disk.db.getRange({ start: task.from, end: task.to, limit: task.limit + 1 })) {
    if (checked === task.limit) {
      next = key;
      break;
    }
    checked += 1;
    const entry = decodeEntry(value);
    const intact = typeof entry === 'object' && fs.readSync(disk.blocks, data, 0, slotBytes, entry.slot * slotBytes) === slotBytes && crc32c(data) === entry.crc;
    if (!intact) corrupt.push(key);
  }
  return { checked, corrupt, next };
}
