/**
 * What a block's key (`b:<gmap>:<block>:<epoch>`, block-keys.ts) holds: where its 4 KiB of data
 * sit in the disk's block file, and their checksum.
 *
 *   | bytes | field                                          |
 *   |-------|------------------------------------------------|
 *   | 0..4  | u32 LE slot in the block file (file-slots.ts)  |
 *   | 4..8  | u32 LE CRC32C of the block's 4096 bytes        |
 *
 * An empty value is a lost block: crashes tore it on every copy, and it reads as an error until it
 * is written again. Why the data left LMDB: BENCHMARKS.md ("Where the cluster's write time goes").
 */
export interface BlockEntry {
  readonly slot: number;
  readonly crc: number;
}

export const entryBytes = 8;

export function encodeEntry(entry: BlockEntry): Buffer {
  const value = Buffer.allocUnsafe(entryBytes);
  value.writeUInt32LE(entry.slot, 0);
  value.writeUInt32LE(entry.crc, 4);
  return value;
}

/** The entry, 'lost', or 'damaged' for a value of any other size. */
export function decodeEntry(value: Uint8Array): BlockEntry | 'lost' | 'damaged' {
  if (value.length === 0) return 'lost';
  if (value.length !== entryBytes) return 'damaged';
  const view = new DataView(value.buffer, value.byteOffset, entryBytes);
  return { slot: view.getUint32(0, true), crc: view.getUint32(4, true) };
}

/** The slot an entry's data takes, if any (lost and damaged entries take none). */
export function slotOf(value: Uint8Array | undefined): number | undefined {
  const entry = value && decodeEntry(value);
  return typeof entry === 'object' ? entry.slot : undefined;
}
