import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const made = new Set<string>();
let cleanupRegistered = false;

/**
 * A fresh directory under the system's temporary directory, removed when the test process exits
 * (tests restart daemons on the same directory, so it outlives any one cluster). Without this,
 * every run left its LMDB files behind and CI machines filled up.
 */
export function scratchDirectory(prefix: string): string {
  if (!cleanupRegistered) {
    cleanupRegistered = true;
    process.once('exit', () => {
      // Best effort: a daemon killed a moment ago may still be letting go of its files.
      for (const dir of made) {
        try {
          fs.rmSync(dir, { recursive: true, force: true });
        } catch {
          // left for the system's temporary-file cleanup
        }
      }
    });
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.add(dir);
  return dir;
}
