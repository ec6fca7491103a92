import { fileURLToPath } from 'node:url';
import type { CpuJobs } from '../actors/cpu-jobs.js';
import { blocksPerRegion, parseRegionKey, regionKeysFrom, regionKeysTo } from './block-keys.js';
import type { BlockAddress } from './block-store.js';
import type { ScrubPage, ScrubTask } from './scrub-job.js';

const scrubJob = fileURLToPath(new URL('./scrub-job.js', import.meta.url));
/** Blocks one job verifies (16 MiB of data): long enough to amortise the hand-off, short enough to yield. */
export const scrubBlocksPerJob = 4096;

export interface ScrubReport {
  readonly checkedBlocks: number;
  readonly corrupt: BlockAddress[];
}

/**
 * Verifies every stored block of the disk at `path` against its CRC32C, page by page as piscina
 * jobs (never on the disk actor's thread), and reports the blocks that do not match. Blocks
 * written during the scrub are checked if the scan has not passed them yet.
 */
export async function scrubDisk(jobs: CpuJobs, path: string): Promise<ScrubReport> {
  const corrupt: BlockAddress[] = [];
  let checkedBlocks = 0;
  let from: string | undefined = regionKeysFrom;
  while (from !== undefined) {
    const page: ScrubPage = await jobs.run<ScrubPage>(scrubJob, {
      path,
      from,
      to: regionKeysTo,
      limit: scrubBlocksPerJob,
    } satisfies ScrubTask);
    checkedBlocks += page.checked;
    for (const [key, index] of page.corrupt) {
      const { gmap, region, epoch } = parseRegionKey(key);
      corrupt.push({ gmap, epoch, block: region * blocksPerRegion + index });
    }
    from = page.next;
  }
  return { checkedBlocks, corrupt };
}
