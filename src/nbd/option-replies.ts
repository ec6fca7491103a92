import { REPLY_MAGIC, Reply, InfoType } from './protocol.js';
import type { BlockSizes } from './backend.js';

/**
 * Encoders for handshake replies.
 *
 *   | option reply | u64 REPLY_MAGIC | u32 option | u32 reply type | u32 length | data |
 *   | SERVER data  | u32 name length | name | description                            |
 *   | INFO EXPORT  | u16 0 | u64 size | u16 transmission flags                      |
 *   | INFO NAME    | u16 1 | name                                                  |
 *   | INFO DESCR.  | u16 2 | description                                           |
 *   | INFO BLOCK   | u16 3 | u32 minimum | u32 preferred | u32 maximum               |
 *   | META_CONTEXT | u32 context id | name                                         |
 *   | export (EXPORT_NAME success) | u64 size | u16 flags | 124 zero bytes unless NO_ZEROES |
 */
export function optionReply(option: number, type: Reply, data: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(20 + data.length);
  out.writeBigUInt64BE(REPLY_MAGIC, 0);
  out.writeUInt32BE(option >>> 0, 8);
  out.writeUInt32BE(type >>> 0, 12);
  out.writeUInt32BE(data.length, 16);
  data.copy(out, 20);
  return out;
}

export function errorReply(option: number, type: Reply, message: string): Buffer {
  return optionReply(option, type, Buffer.from(message, 'utf8'));
}

export function serverData(name: string, description: string): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const descriptionBytes = Buffer.from(description, 'utf8');
  const out = Buffer.allocUnsafe(4 + nameBytes.length + descriptionBytes.length);
  out.writeUInt32BE(nameBytes.length, 0);
  nameBytes.copy(out, 4);
  descriptionBytes.copy(out, 4 + nameBytes.length);
  return out;
}

export function infoExport(sizeBytes: number, transmissionFlags: number): Buffer {
  const out = Buffer.allocUnsafe(12);
  out.writeUInt16BE(InfoType.Export, 0);
  out.writeBigUInt64BE(BigInt(sizeBytes), 2);
  out.writeUInt16BE(transmissionFlags, 10);
  return out;
}

export function infoString(type: InfoType.Name | InfoType.Description, text: string): Buffer {
  const textBytes = Buffer.from(text, 'utf8');
  const out = Buffer.allocUnsafe(2 + textBytes.length);
  out.writeUInt16BE(type, 0);
  textBytes.copy(out, 2);
  return out;
}

export function infoBlockSize(sizes: BlockSizes): Buffer {
  const out = Buffer.allocUnsafe(14);
  out.writeUInt16BE(InfoType.BlockSize, 0);
  out.writeUInt32BE(sizes.minimumBytes, 2);
  out.writeUInt32BE(sizes.preferredBytes, 6);
  out.writeUInt32BE(sizes.maximumBytes, 10);
  return out;
}

export function metaContextData(id: number, name: string): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const out = Buffer.allocUnsafe(4 + nameBytes.length);
  out.writeUInt32BE(id, 0);
  nameBytes.copy(out, 4);
  return out;
}

export function exportNameSuccess(sizeBytes: number, transmissionFlags: number, noZeroes: boolean): Buffer {
  const out = Buffer.alloc(noZeroes ? 10 : 134);
  out.writeBigUInt64BE(BigInt(sizeBytes), 0);
  out.writeUInt16BE(transmissionFlags, 8);
  return out;
}
