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
 * starts. A block rewritten during the scan is not reported.
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
  const suspects: Array<[string, Buffer]> = [];
  let checked = 0;
  let next: string | undefined;
  for (const { key, value } of disk.db.getRange({ start: task.from, end: task.to, limit: task.limit + 1 })) {
    if (checked === task.limit) {
      next = key;
      break;
    }
    checked += 1;
    if (!intact(disk.blocks, value)) suspects.push([key, Buffer.from(value)]);
  }
  // The scan reads one LMDB snapshot while the disk keeps writing: a block rewritten since may
  // have had its old slot reused. A suspect is corrupt only if its current entry is the one
  // scanned and still does not match.
  disk.db.resetReadTxn();
  const corrupt = suspects.filter(([key, scanned]) => {
    const now = disk.db.getBinary(key);
    return now !== undefined && scanned.equals(now) && !intact(disk.blocks, now);
  });
  return { checked, corrupt: corrupt.map(([key]) => key), next };
}

function intact(blocks: number, value: Uint8Array): boolean {
  const entry = decodeEntry(value);
  return typeof entry === 'object' && fs.readSync(blocks, data, 0, slotBytes, entry.slot * slotBytes) === slotBytes && crc32c(data) === entry.crc;
}
