/**
 * A small replicated register, built from actors, on which the harness proves itself: a client
 * writes versions 1, 2, 3… through a coordinator to three replicas (majority quorum) and reads
 * them back; a model checker compares every read with the last acknowledged write.
 *
 *   | message                       | from → to            | reply                          |
 *   |-------------------------------|----------------------|--------------------------------|
 *   | { op: 'write', version, value } | client → coordinator | { ok: true } or { ok: false }  |
 *   | { op: 'read' }                | client → coordinator | { ok, version, value }         |
 *   | { op: 'store', version, value } | coordinator → replica | { ok: true } once flushed     |
 *   | { op: 'load' }                | coordinator → replica | { version, value }             |
 */
export type RegisterMessage =
  | { readonly op: 'write'; readonly version: number; readonly value: string }
  | { readonly op: 'read' }
  | { readonly op: 'store'; readonly version: number; readonly value: string }
  | { readonly op: 'load' };

export interface Versioned {
  readonly version: number;
  readonly value: string;
}

export function valueOf(version: number): string {
  return `value-${version}`;
}

/**
 * A replica's record on storage, under key `v/<version>` (never overwritten, so a torn write can
 * only damage the record being written):
 *   | bytes | field                                  |
 *   |-------|----------------------------------------|
 *   | 0..3  | u32 FNV-1a checksum of the rest        |
 *   | 4..   | UTF-8 JSON { version, value }          |
 */
export function encodeRecord(record: Versioned): Uint8Array {
  const body = Buffer.from(JSON.stringify(record), 'utf8');
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32BE(fnv1a(body), 0);
  body.copy(out, 4);
  return out;
}

/** The record, or undefined when it is torn. */
export function decodeRecord(bytes: Uint8Array): Versioned | undefined {
  if (bytes.length < 5) return undefined;
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const body = buffer.subarray(4);
  if (buffer.readUInt32BE(0) !== fnv1a(body)) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as Versioned;
  } catch {
    return undefined;
  }
}

function fnv1a(bytes: Uint8Array): number {
  let hash = 0x811c9dc5;
  for (const byte of bytes) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash;
}
