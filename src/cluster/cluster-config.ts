import fs from 'node:fs';
import path from 'node:path';
import { WhorlError } from '../errors.js';

/**
 * DIR/cluster.json, written when a data directory is first used and checked at every start:
 *
 *   | field             | meaning                                              |
 *   |-------------------|------------------------------------------------------|
 *   | format            | "whorl-cluster"                                      |
 *   | version           | 1                                                    |
 *   | servers           | server actors (each with one disk under servers/<i>) |
 *   | diskCapacityBytes | capacity of each server's disk                       |
 *   | disks             | (optional) each server's disk directory (`--disk`),  |
 *   |                   | absolute; absent: DIR/servers/<i>                    |
 */
export interface ClusterConfig {
  readonly format: 'whorl-cluster';
  readonly version: 1;
  readonly servers: number;
  readonly diskCapacityBytes: number;
  readonly disks?: readonly string[];
}

export const configFile = 'cluster.json';

/** Reads the directory's config, or writes it when the directory is new. `fresh` says which. */
export function loadClusterConfig(
  dataDir: string,
  wanted: { servers: number; diskCapacityBytes: number; disks?: readonly string[] },
): { config: ClusterConfig; fresh: boolean } {
  const file = path.join(dataDir, configFile);
  if (fs.existsSync(dataDir) && !fs.statSync(dataDir).isDirectory())
    throw new WhorlError('WHORL_DISK_INVALID', `data directory ${dataDir} is not a directory`);
  if (!fs.existsSync(file)) {
    const entries = fs.existsSync(dataDir) ? fs.readdirSync(dataDir).filter((entry) => entry !== 'admin.sock') : [];
    if (entries.length > 0) {
      throw new WhorlError(
        'WHORL_DISK_INVALID',
        `data directory ${dataDir} holds files (${entries.slice(0, 3).join(', ')}) but no ${configFile}: not a whorl data directory (refusing to use it)`,
      );
    }
    const config: ClusterConfig = { format: 'whorl-cluster', version: 1, ...wanted };
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(config, null, 2)}\n`);
    fs.renameSync(`${file}.tmp`, file);
    return { config, fresh: true };
  }
  let config: ClusterConfig;
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8')) as ClusterConfig;
  } catch (error) {
    throw new WhorlError('WHORL_DISK_INVALID', `${file} is damaged: ${(error as Error).message}`);
  }
  if (config.format !== 'whorl-cluster' || config.version !== 1)
    throw new WhorlError(
      'WHORL_DISK_INVALID',
      `${file} has format ${config.format} version ${config.version}; this whorl reads whorl-cluster version 1`,
    );
  checkDisks(dataDir, config, wanted.disks);
  if (config.servers !== wanted.servers) {
    throw new WhorlError(
      'WHORL_DISK_INVALID',
      `${dataDir} was created with --servers ${config.servers}, not ${wanted.servers} (changing the number of servers is not supported)`,
    );
  }
  return { config, fresh: false };
}

/** A data directory's disks stay where they were put: `--disk` must name the same paths, in order. */
function checkDisks(dataDir: string, config: ClusterConfig, wanted: readonly string[] | undefined): void {
  const had = config.disks ?? [];
  const now = wanted ?? [];
  if (had.length === now.length && had.every((disk, i) => disk === now[i])) return;
  const was = had.length === 0 ? `its disks under ${path.join(dataDir, 'servers')}` : `--disk ${had.join(' --disk ')}`;
  const is = now.length === 0 ? 'no --disk' : `--disk ${now.join(' --disk ')}`;
  throw new WhorlError(
    'WHORL_DISK_INVALID',
    `${dataDir} was created with ${was}; this start gives ${is} (a server's disk cannot move: give the same --disk paths in the same order)`,
  );
}
