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
 */
export interface ClusterConfig {
  readonly format: 'whorl-cluster';
  readonly version: 1;
  readonly servers: number;
  readonly diskCapacityBytes: number;
}

export const configFile = 'cluster.json';

/** Reads the directory's config, or writes it when the directory is new. `fresh` says which. */
export function loadClusterConfig(
  dataDir: string,
  wanted: { servers: number; diskCapacityBytes: number },
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
  if (config.servers !== wanted.servers) {
    throw new WhorlError(
      'WHORL_DISK_INVALID',
      `${dataDir} was created with --servers ${config.servers}, not ${wanted.servers} (changing the number of servers is not supported)`,
    );
  }
  return { config, fresh: false };
}
