import type { Extent } from './backend.js';
import {
  CHUNK_FLAG_DONE,
  CHUNK_HEADER_BYTES,
  ChunkType,
  SIMPLE_REPLY_BYTES,
  SIMPLE_REPLY_MAGIC,
  STATE_HOLE,
  STATE_ZERO,
  STRUCTURED_REPLY_MAGIC,
} from './protocol.js';
import type { Request } from './request.js';

/**
 * Encoders for transmission replies.
 *
 *   | simple reply   | u32 SIMPLE_REPLY_MAGIC | u32 error | u64 cookie | (READ data)              |
 *   | chunk header   | u32 STRUCTURED_REPLY_MAGIC | u16 flags | u16 type | u64 cookie | u32 length |
 *   | OFFSET_DATA    | header | u64 offset | data                                          |
 *   | OFFSET_HOLE    | header | u64 offset | u32 hole length                               |
 *   | BLOCK_STATUS   | header | u32 context id | { u32 extent length, u32 flags } …         |
 *   | ERROR          | header | u32 error | u16 message length | message                   |
 *
 * Payload bytes are never copied here: OFFSET_DATA encodes only its 28-byte prefix and the caller
 * writes the data view after it.
 */
export function simpleReply(request: Request, error: number): Buffer {
  const out = Buffer.allocUnsafe(SIMPLE_REPLY_BYTES);
  out.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
  out.writeUInt32BE(error, 4);
  out.writeUInt32BE(request.cookieHigh, 8);
  out.writeUInt32BE(request.cookieLow, 12);
  return out;
}

function chunkHeader(out: Buffer, request: Request, done: boolean, type: ChunkType, lengthBytes: number): void {
  out.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0);
  out.writeUInt16BE(done ? CHUNK_FLAG_DONE : 0, 4);
  out.writeUInt16BE(type, 6);
  out.writeUInt32BE(request.cookieHigh, 8);
  out.writeUInt32BE(request.cookieLow, 12);
  out.writeUInt32BE(lengthBytes, 16);
}

export function noneChunk(request: Request): Buffer {
  const out = Buffer.allocUnsafe(CHUNK_HEADER_BYTES);
  chunkHeader(out, request, true, ChunkType.None, 0);
  return out;
}

/** The prefix of an OFFSET_DATA chunk; `dataBytes` of data follow it on the wire. */
export function dataChunkPrefix(request: Request, done: boolean, offsetBytes: number, dataBytes: number): Buffer {
  const out = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + 8);
  chunkHeader(out, request, done, ChunkType.OffsetData, 8 + dataBytes);
  writeU64(out, CHUNK_HEADER_BYTES, offsetBytes);
  return out;
}

export function holeChunk(request: Request, done: boolean, offsetBytes: number, holeBytes: number): Buffer {
  const out = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + 12);
  chunkHeader(out, request, done, ChunkType.OffsetHole, 12);
  writeU64(out, CHUNK_HEADER_BYTES, offsetBytes);
  out.writeUInt32BE(holeBytes, CHUNK_HEADER_BYTES + 8);
  return out;
}

export function blockStatusChunk(request: Request, contextId: number, extents: readonly Extent[]): Buffer {
  const out = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + 4 + extents.length * 8);
  chunkHeader(out, request, true, ChunkType.BlockStatus, 4 + extents.length * 8);
  out.writeUInt32BE(contextId, CHUNK_HEADER_BYTES);
  let at = CHUNK_HEADER_BYTES + 4;
  for (const extent of extents) {
    out.writeUInt32BE(extent.lengthBytes, at);
    out.writeUInt32BE((extent.hole ? STATE_HOLE : 0) | (extent.zero ? STATE_ZERO : 0), at + 4);
    at += 8;
  }
  return out;
}

export function errorChunk(request: Request, error: number, message: string): Buffer {
  const text = Buffer.from(message.slice(0, 256), 'utf8');
  const out = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + 6 + text.length);
  chunkHeader(out, request, true, ChunkType.Error, 6 + text.length);
  out.writeUInt32BE(error, CHUNK_HEADER_BYTES);
  out.writeUInt16BE(text.length, CHUNK_HEADER_BYTES + 4);
  text.copy(out, CHUNK_HEADER_BYTES + 6);
  return out;
}

function writeU64(out: Buffer, at: number, value: number): void {
  out.writeUInt32BE(Math.floor(value / 2 ** 32), at);
  out.writeUInt32BE(value >>> 0, at + 4);
}
