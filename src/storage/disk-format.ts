import fs from 'node:fs';
import path from 'node:path';
import { WhorlError } from '../errors.js';
import { blockBytes } from './block-keys.js';
import { FileSlots } from './file-slots.js';
import { LmdbStorage } from './lmdb-storage.js';
import { upgradeFromVersion3 } from './upgrade-v3.js';

/**
 * What `meta:format` holds, written once when a disk is created and checked at every open.
 *
 *   | field         | meaning                                                     |
 *   |---------------|-------------------------------------------------------------|
 *   | format        | always "whorl-disk"                                         |
 *   | version       | layout version (4: the keys of block-keys.ts in LMDB, block |
 *   |               | data in the `blocks` file, region-entry.ts)                 |
 *   | owner         | the server this disk belongs to (e.g. "server-2")           |
 *   | capacityBytes | block bytes the disk may hold                               |
 *   | blockBytes    | 4096                                                        |
 *   | pageSizeBytes | LMDB page size the environment was created with             |
 */
export interface DiskFormat {
  readonly format: 'whorl-disk';
  readonly version: typeof formatVersion;
  readonly owner: string;
  readonly capacityBytes: number;
  readonly blockBytes: number;
  readonly pageSizeBytes: number;
}

export interface OpenDiskOptions {
  readonly path: string;
  readonly owner: string;
  readonly capacityBytes: number;
  /** Create the disk if the directory is missing or empty; never over anything else. */
  readonly create: boolean;
  readonly pageSizeBytes?: number;
  /** Shared with readers on other threads: see commit-table.ts. */
  readonly commits?: SharedArrayBuffer;
}

export const formatKey = 'meta:format';
/**
 * Version 1 stored a block as one 4100-byte LMDB value, version 2 as a head and a tail record;
 * version 3 keeps block data in a plain file beside the environment, with a key per block;
 * version 4 has a key per 64 KiB region instead; version 5 stores each block's write stamp in its
 * region entry (region-entry.ts), and reads version 4's entries as stamp zero; version 6 adds the
 * uniform form of a region entry (one record for a region of holes with one stamp). A disk of
 * version 3, 4 or 5 is upgraded when it opens (versions 4 and 5: only this key changes, so that an
 * older whorl refuses the disk instead of reading newer entries as damaged).
 */
export const formatVersion = 6;
const upgradableVersions: readonly number[] = [3, 4, 5];
const dataFile = 'data.mdb';
export const blocksFile = 'blocks';
/**
 * Address space for the environment. Block data live in the block file, and a region entry takes
 * at most 290 bytes per 64 KiB, but pages freed by copy-on-write wait for the next sync before
 * reuse: the reservation (kept from when block data lived in LMDB, 2.5× capacity) is generous,
 * and address space costs nothing until pages are touched.
 */
export function mapSizeFor(capacityBytes: number): number {
  return Math.ceil((capacityBytes * 2.5 + 256 * 1024 * 1024) / 65536) * 65536;
}

/** Opens (or creates) a disk directory, refusing anything that is not the disk it should be. */
export async function openDisk(options: OpenDiskOptions): Promise<{ storage: LmdbStorage; format: DiskFormat }> {
  const where = path.resolve(options.path);
  const state = inspect(where);
  if (state === 'not-a-directory') throw invalid(where, 'is not a directory');
  if (state === 'foreign')
    throw invalid(where, `holds files but no ${dataFile}: not a whorl disk (refusing to format it)`);
  if (state === 'empty' && !options.create) throw invalid(where, 'holds no whorl disk');
  fs.mkdirSync(where, { recursive: true });

  if (state === 'existing') {
    const damage = lmdbFileDamage(path.join(where, dataFile));
    if (damage) throw invalid(where, `has a damaged ${dataFile} (${damage})`);
  }
  let storage: LmdbStorage;
  try {
    storage = new LmdbStorage({
      path: where,
      mapSizeBytes: mapSizeFor(options.capacityBytes),
      pageSizeBytes: options.pageSizeBytes,
      commits: options.commits,
    });
  } catch (error) {
    throw invalid(where, `cannot be opened as LMDB (${(error as Error).message}): damaged?`);
  }
  try {
    const blocks = path.join(where, blocksFile);
    // A new disk's block file exists before its format key does: a disk with the key has both.
    if (state === 'empty') storage.blocks = new FileSlots(blocks, true);
    const format = state === 'empty' ? await create(storage, options) : await check(storage, where, options);
    if (state === 'existing') {
      if (!fs.existsSync(blocks)) throw invalid(where, `has ${dataFile} but no ${blocksFile} file: damaged`);
      storage.blocks = new FileSlots(blocks, false);
    }
    return { storage, format };
  } catch (error) {
    await storage.close();
    throw error;
  }
}

/**
 * LMDB trusts its file: opening garbage crashes the process. So the two meta pages are checked
 * first (offsets of LMDB's on-disk meta page):
 *
 *   | offset | size | field                                       |
 *   |--------|------|---------------------------------------------|
 *   | 18     | u16  | page flags; 0x08 marks a meta page          |
 *   | 24     | u32  | magic 0xBEEFC0DE                            |
 *   | 48     | u32  | page size (kept in the free-list DB record) |
 *
 * The second meta page starts one page in. Damage deeper in the B-tree is not detected here.
 */
function lmdbFileDamage(file: string): string | undefined {
  const header = Buffer.alloc(64);
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    if (fs.readSync(fd, header, 0, 64, 0) < 64) return `${size} bytes is too short`;
    const pageSize = header.readUInt32LE(48);
    const metaOk = (page: Buffer) => (page.readUInt16LE(18) & 0x08) !== 0 && page.readUInt32LE(24) === 0xbeefc0de;
    if (!metaOk(header)) return 'no LMDB meta page at the start';
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0)
      return `page size ${pageSize} is impossible`;
    if (size < 2 * pageSize) return `${size} bytes is shorter than two meta pages`;
    if (fs.readSync(fd, header, 0, 64, pageSize) < 64 || !metaOk(header)) return 'the second meta page is damaged';
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

function inspect(where: string): 'empty' | 'existing' | 'foreign' | 'not-a-directory' {
  let entries: string[];
  try {
    if (!fs.statSync(where).isDirectory()) return 'not-a-directory';
    entries = fs.readdirSync(where);
  } catch {
    return 'empty';
  }
  if (entries.includes(dataFile)) return 'existing';
  return entries.length === 0 ? 'empty' : 'foreign';
}

async function create(storage: LmdbStorage, options: OpenDiskOptions): Promise<DiskFormat> {
  const format: DiskFormat = {
    format: 'whorl-disk',
    version: formatVersion,
    owner: options.owner,
    capacityBytes: options.capacityBytes,
    blockBytes,
    pageSizeBytes: options.pageSizeBytes ?? 4096,
  };
  storage.put(formatKey, Buffer.from(JSON.stringify(format)));
  await storage.sync();
  return format;
}

async function check(storage: LmdbStorage, where: string, options: OpenDiskOptions): Promise<DiskFormat> {
  const raw = storage.get(formatKey);
  if (!raw) throw invalid(where, `is an LMDB environment without ${formatKey}: not a whorl disk`);
  let format: DiskFormat;
  try {
    format = JSON.parse(Buffer.from(raw).toString('utf8')) as DiskFormat;
  } catch {
    throw invalid(where, `has a damaged ${formatKey}`);
  }
  const version = format.version as number;
  if (format.format !== 'whorl-disk' || (version !== formatVersion && !upgradableVersions.includes(version))) {
    throw invalid(
      where,
      `has format ${format.format} version ${format.version}; this whorl reads whorl-disk versions ${upgradableVersions.join(', ')} and ${formatVersion}`,
    );
  }
  if (format.owner !== options.owner) throw invalid(where, `belongs to ${format.owner}, not ${options.owner}`);
  if (format.capacityBytes !== options.capacityBytes)
    throw invalid(where, `has capacity ${format.capacityBytes} bytes, not the ${options.capacityBytes} configured`);
  if (version === formatVersion) return format;
  if (version === 3) await upgradeFromVersion3(storage);
  const upgraded: DiskFormat = { ...format, version: formatVersion };
  storage.put(formatKey, Buffer.from(JSON.stringify(upgraded)));
  await storage.sync();
  return upgraded;
}

function invalid(where: string, why: string): WhorlError {
  return new WhorlError('WHORL_DISK_INVALID', `disk ${where} ${why}`);
}

/** A StorageSpec export: the worker thread that runs a disk actor opens its disk with this. */
export async function openDiskStorage(options: OpenDiskOptions): Promise<LmdbStorage> {
  return (await openDisk(options)).storage;
}
