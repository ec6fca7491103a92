import { blocksPerRegion } from './block-keys.js';
import { seqMax, unstamped, type Stamp } from './stamps.js';

/**
 * What a region's key (`r:<gmap>:<region>:<epoch>`, block-keys.ts) holds: what each of its 16
 * blocks holds at that epoch, for the blocks that hold anything there.
 *
 *   | bytes         | field                                                        |
 *   |---------------|--------------------------------------------------------------|
 *   | 0 .. 2        | u16 LE: bit i set when block i holds something at this epoch |
 *   | then, per set bit, in block order, 18 bytes:                                 |
 *   | +0 .. +4      | u32 LE slot of the block in the block file (file-slots.ts),  |
 *   |               | or a state: 0xfffffffe a hole (zeros), 0xfffffffd lost       |
 *   | +4 .. +8      | u32 LE CRC32C of the block's 4096 bytes (data only)          |
 *   | +8 .. +12     | u32 LE term of the write that made this version (stamps.ts)  |
 *   | +12 .. +18    | u48 LE its sequence number in that term                      |
 *
 * A block whose bit is clear has nothing at this epoch: a read looks at older epochs. A lost block
 * was torn by crashes on every copy: it reads as an error until written again.
 *
 * **Uniform form.** Where two or more blocks hold a hole with one stamp and nothing else holds
 * anything, the value is the bits and one 18-byte record that stands for every set block: 20
 * bytes (a trim's stamped holes over a whole region, block-store.ts). Its length is that of one
 * block in the form above, which means the same; a uniform record holding a slot is damaged.
 *
 * Disks of format 4 stored 8 bytes per block (no stamp): such a value reads with stamp zero, and
 * is rewritten in this form when next changed. A value whose length matches no form is damaged,
 * and reads as 16 lost blocks. A region written whole takes 290 bytes; one block of it, 20.
 */
const nothing = 0xffffffff;
/** Bytes per block that holds something: stamped (this form), and as format 4 stored them. */
const stride = 18;
const legacyStride = 8;
/** Numbers per block in the decoded array: slot or state, CRC, term, seq. */
const words = 4;
const hole = 0xfffffffe;
const lost = 0xfffffffd;
/** Slots at or above this are states, not slots. */
export const slotLimitMax = 0xfffffff0;

export type BlockState = 'nothing' | 'data' | 'hole' | 'lost';

/**
 * A region entry decoded into a private array of 16 (slot or state, CRC, term, seq) quadruples,
 * for reading and changing. A plain array, not a typed one: a small typed array is malloc'd outside V8's heap,
 * which cost random reads ~20 % of their IOPS.
 */
export class RegionEntry {
  private constructor(private readonly words: number[]) {}

  /** Nothing stored for any block. */
  static empty(): RegionEntry {
    const empty = new Array<number>(blocksPerRegion * words).fill(0);
    for (let i = 0; i < blocksPerRegion; i++) empty[i * words] = nothing;
    return new RegionEntry(empty);
  }

  /** Decodes a stored value (the value may change after the storage's next call: this copies). */
  static of(value: Uint8Array): RegionEntry {
    const size = strideOf(value);
    if (size === undefined) return RegionEntry.allLost();
    const entry = RegionEntry.empty();
    const bits = value[0]! | (value[1]! << 8);
    // Records follow in block order; the uniform form's one record stands for every block.
    const next = value.length === 2 + stride ? 0 : size;
    let at = 2;
    for (let i = 0; i < blocksPerRegion; i++) {
      if ((bits & (1 << i)) === 0) continue;
      entry.words[i * words] = u32(value, at);
      entry.words[i * words + 1] = u32(value, at + 4);
      entry.words[i * words + 2] = size === stride ? u32(value, at + 8) : 0;
      entry.words[i * words + 3] = size === stride ? u32(value, at + 12) + u16(value, at + 16) * 2 ** 32 : 0;
      at += next;
    }
    return entry;
  }

  /**
   * Block i's slot and CRC32C if it holds data in a stored value, without decoding the rest;
   * undefined for anything else (nothing, a hole, lost, a damaged value).
   */
  static dataIn(value: Uint8Array, i: number): { slot: number; crc: number } | undefined {
    const size = strideOf(value);
    if (size === undefined) return undefined;
    const bits = value[0]! | (value[1]! << 8);
    if ((bits & (1 << i)) === 0) return undefined;
    const at = recordAt(value, bits, size, i);
    const slot = u32(value, at);
    return slot < slotLimitMax ? { slot, crc: u32(value, at + 4) } : undefined;
  }

  /** Whether block i is a hole (reads as zeros at this epoch) in a stored value. */
  static holeIn(value: Uint8Array, i: number): boolean {
    const size = strideOf(value);
    if (size === undefined) return false;
    const bits = value[0]! | (value[1]! << 8);
    if ((bits & (1 << i)) === 0) return false;
    return u32(value, recordAt(value, bits, size, i)) === hole;
  }

  /** Whether block i holds anything (data, a hole, lost) in a stored value; a damaged one holds every block, lost. */
  static holds(value: Uint8Array, i: number): boolean {
    return RegionEntry.isDamaged(value) || ((value[0]! | (value[1]! << 8)) & (1 << i)) !== 0;
  }

  static allLost(): RegionEntry {
    const entry = RegionEntry.empty();
    for (let i = 0; i < blocksPerRegion; i++) entry.setLost(i);
    return entry;
  }

  /** Whether a stored value fails to decode (and so reads as 16 lost blocks). */
  static isDamaged(value: Uint8Array): boolean {
    return strideOf(value) === undefined;
  }

  /** The value to store: only the blocks that hold something, in the uniform form where it applies. */
  encode(): Uint8Array {
    let bits = 0;
    let count = 0;
    let first = -1;
    let uniform = true;
    for (let i = 0; i < blocksPerRegion; i++) {
      if (this.words[i * words] === nothing) continue;
      bits |= 1 << i;
      count += 1;
      if (first < 0) first = i;
      else uniform &&= this.state(i) === 'hole' && this.sameStamp(i, first);
    }
    uniform &&= count > 1 && this.state(first) === 'hole';
    const value = Buffer.allocUnsafe(2 + stride * (uniform ? 1 : count));
    value.writeUInt16LE(bits, 0);
    let at = 2;
    for (let i = 0; i < blocksPerRegion && at < value.length; i++) {
      if (this.words[i * words] === nothing) continue;
      value.writeUInt32LE(this.words[i * words]!, at);
      value.writeUInt32LE(this.words[i * words + 1]!, at + 4);
      value.writeUInt32LE(this.words[i * words + 2]!, at + 8);
      value.writeUIntLE(this.words[i * words + 3]!, at + 12, 6);
      at += stride;
    }
    return value;
  }

  private sameStamp(i: number, j: number): boolean {
    return (
      this.words[i * words + 2] === this.words[j * words + 2] && this.words[i * words + 3] === this.words[j * words + 3]
    );
  }

  state(i: number): BlockState {
    const slot = this.words[i * words]!;
    if (slot < slotLimitMax) return 'data';
    if (slot === nothing) return 'nothing';
    return slot === hole ? 'hole' : 'lost';
  }

  /** Block i's slot, when it holds data. */
  slot(i: number): number {
    return this.words[i * words]!;
  }

  crc(i: number): number {
    return this.words[i * words + 1]!;
  }

  /** The stamp of the write that made block i's version here, when it holds anything. */
  stamp(i: number): Stamp | undefined {
    if (!this.has(i)) return undefined;
    const term = this.words[i * words + 2]!;
    const seq = this.words[i * words + 3]!;
    return term === 0 && seq === 0 ? unstamped : { term, seq };
  }

  /** Whether block i holds anything at this epoch: data, a hole or a lost block. */
  has(i: number): boolean {
    return this.words[i * words] !== nothing;
  }

  /** Whether block i takes space: data, or a lost block (which stands for data). */
  takesSpace(i: number): boolean {
    const slot = this.words[i * words]!;
    return slot < slotLimitMax || slot === lost;
  }

  setData(i: number, slot: number, crc: number, stamp: Stamp = unstamped): void {
    this.words[i * words] = slot;
    // As unsigned 32 bits, as stored: a CRC computed with bit operations may arrive negative.
    this.words[i * words + 1] = crc >>> 0;
    this.setStamp(i, stamp);
  }

  setHole(i: number, stamp: Stamp = unstamped): void {
    this.setState(i, hole);
    this.setStamp(i, stamp);
  }

  /** A lost block keeps the stamp of the version it stands for. */
  setLost(i: number): void {
    this.words[i * words] = lost;
    this.words[i * words + 1] = 0;
  }

  clear(i: number): void {
    this.setState(i, nothing);
    this.setStamp(i, unstamped);
  }

  /** True when no block holds anything: the key can go. */
  get isEmpty(): boolean {
    for (let i = 0; i < blocksPerRegion; i++) if (this.has(i)) return false;
    return true;
  }

  private setState(i: number, state: number): void {
    this.words[i * words] = state;
    this.words[i * words + 1] = 0;
  }

  private setStamp(i: number, stamp: Stamp): void {
    if (!(stamp.term >= 0 && stamp.term <= 0xffffffff && stamp.seq >= 0 && stamp.seq <= seqMax))
      throw new RangeError(`stamp (${stamp.term}, ${stamp.seq}) out of range`);
    this.words[i * words + 2] = stamp.term;
    this.words[i * words + 3] = stamp.seq;
  }
}

/**
 * Bytes per block record of a stored value (this form, uniform or not, or format 4's), or
 * undefined when damaged.
 */
function strideOf(value: Uint8Array): number | undefined {
  if (value.length < 2) return undefined;
  const count = bitCount(value[0]! | (value[1]! << 8));
  if (value.length === 2 + stride * count) return stride;
  if (value.length === 2 + stride && count > 1) return u32(value, 2) >= slotLimitMax ? stride : undefined;
  return value.length === 2 + legacyStride * count ? legacyStride : undefined;
}

/** Where block i's record starts in a stored value whose bits are `bits` (bit i set). */
function recordAt(value: Uint8Array, bits: number, size: number, i: number): number {
  return value.length === 2 + stride ? 2 : 2 + size * bitCount(bits & ((1 << i) - 1));
}

function bitCount(bits: number): number {
  let count = 0;
  for (; bits !== 0; bits &= bits - 1) count += 1;
  return count;
}

function u16(bytes: Uint8Array, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8);
}

function u32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}
