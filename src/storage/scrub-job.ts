import { open, type RootDatabase } from 'lmdb';
import { blockKey, parseBlockKey } from './block-keys.js';
import { recordIntact } from './block-record.js';

/**
 * A piscina job: verify the CRC32C of up to `limit` stored blocks (head and tail records) from key `from` (inclusive) of a
 * disk's LMDB environment, read-only, beside the disk actor that keeps writing. Returns the keys
 * whose bytes do not match, and where the next page starts.
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
const environments = new Map<string, RootDatabase<Buffer, string>>();

export default function scrubPage(task: ScrubTask): ScrubPage {
  let db = environments.get(task.path);
  if (!db) environments.set(task.path, (db = open<Buffer, string>({ path: task.path, encoding: 'binary', readOnly: true })));
  const corrupt: string[] = [];
  let checked = 0;
  let next: string | undefined;
  for (const { key, value } of db.getRange({ start: task.from, end: task.to, limit: task.limit + 1 })) {
    if (checked === task.limit) {
      next = key;
      break;
    }
    checked += 1;
    const { gmap, block, epoch } = parseBlockKey(key);
    if (!recordIntact(value, db.getBinary(blockKey('t', gmap, block, epoch)))) corrupt.push(key);
  }
  return { checked, corrupt, next };
}
