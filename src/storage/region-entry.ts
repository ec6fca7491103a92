import { blocksPerRegion } from './block-keys.js';

/**
 * What a region's key (`r:<gmap>:<region>:<epoch>`, block-keys.ts) holds: what each of its 16
 * blocks holds at that epoch, for the blocks that hold anything there.
 *
 *   | bytes         | field                                                        |
 *   |---------------|--------------------------------------------------------------|
 *   | 0 .. 2        | u16 LE: bit i set when block i holds something at this epoch |
 *   | then, per set bit, in block order, 8 bytes:                                  |
 *   | +0 .. +4      | u32 LE slot of the block in the block file (file-slots.ts),  |
 *   |               | or a state: 0xfffffffe a hole (zeros), 0xfffffffd lost       |
 *   | +4 .. +8      | u32 LE CRC32C of the block's 4096 bytes (data only)          |
 *
 * A block whose bit is clear has nothing at this epoch: a read looks at older epochs. A lost block
 * was torn by crashes on every copy: it reads as an error until written again. A value whose length
 * does not match its bits is damaged, and reads as 16 lost blocks. A region written whole takes
 * 130 bytes; one block of it, 10 (a key per block took 8 per block: random writes pay no more).
 */
const nothing = 0xffffffff;
const hole = 0xfffffffe;
const lost = 0xfffffffd;
/** Slots at or above this are states, not slots. */
export const slotLimitMax = 0xfffffff0;

export type BlockState = 'nothing' | 'data' | 'hole' | 'lost';

/**
 * A region entry decoded into a private array of 16 (slot or state, CRC) pairs, for reading and
 * changing. A plain array, not a typed one: a 128-byte typed array is malloc'd outside V8's heap,
 * which cost random reads ~20 % of their IOPS.
 */
export class RegionEntry {
  private constructor(private readonly words: number[]) {}

  /** Nothing stored for any block. */
  static empty(): RegionEntry {
    return new RegionEntry(new Array<number>(blocksPerRegion * 2).fill(nothing));
  }

  /** Decodes a stored value (the value may change after the storage's next call: this copies). */
  static of(value: Uint8Array): RegionEntry {
    if (RegionEntry.isDamaged(value)) return RegionEntry.allLost();
    const entry = RegionEntry.empty();
    const bits = value[0]! | (value[1]! << 8);
    let at = 2;
    for (let i = 0; i < blocksPerRegion; i++) {
      if ((bits & (1 << i)) === 0) continue;
      entry.words[i * 2] = u32(value, at);
      entry.words[i * 2 + 1] = u32(value, at + 4);
      at += 8;
    }
    return entry;
  }

  /**
   * Block i's slot and CRC32C if it holds data in a stored value, without decoding the rest;
   * undefined for anything else (nothing, a hole, lost, a damaged value).
   */
  static dataIn(value: Uint8Array, i: number): { slot: number; crc: number } | undefined {
    if (RegionEntry.isDamaged(value)) return undefined;
    const bits = value[0]! | (value[1]! << 8);
    if ((bits & (1 << i)) === 0) return undefined;
    const at = 2 + 8 * bitCount(bits & ((1 << i) - 1));
    const slot = u32(value, at);
    return slot < slotLimitMax ? { slot, crc: u32(value, at + 4) } : undefined;
  }

  /** Whether block i is a hole (reads as zeros at this epoch) in a stored value. */
  static holeIn(value: Uint8Array, i: number): boolean {
    if (RegionEntry.isDamaged(value)) return false;
    const bits = value[0]! | (value[1]! << 8);
    if ((bits & (1 << i)) === 0) return false;
    return u32(value, 2 + 8 * bitCount(bits & ((1 << i) - 1))) === hole;
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
    return value.length < 2 || value.length !== 2 + 8 * bitCount(value[0]! | (value[1]! << 8));
  }

  /** The value to store: only the blocks that hold something. */
  encode(): Uint8Array {
    let bits = 0;
    let count = 0;
    for (let i = 0; i < blocksPerRegion; i++) {
      if (this.words[i * 2] === nothing) continue;
      bits |= 1 << i;
      count += 1;
    }
    const value = Buffer.allocUnsafe(2 + 8 * count);
    value.writeUInt16LE(bits, 0);
    let at = 2;
    for (let i = 0; i < blocksPerRegion; i++) {
      if (this.words[i * 2] === nothing) continue;
      value.writeUInt32LE(this.words[i * 2]!, at);
      value.writeUInt32LE(this.words[i * 2 + 1]!, at + 4);
      at += 8;
    }
    return value;
  }

  state(i: number): BlockState {
    const slot = this.words[i * 2]!;
    if (slot < slotLimitMax) return 'data';
    if (slot === nothing) return 'nothing';
    return slot === hole ? 'hole' : 'lost';
  }

  /** Block i's slot, when it holds data. */
  slot(i: number): number {
    return this.words[i * 2]!;
  }

  crc(i: number): number {
    return this.words[i * 2 + 1]!;
  }

  /** Whether block i holds anything at this epoch: data, a hole or a lost block. */
  has(i: number): boolean {
    return this.words[i * 2] !== nothing;
  }

  /** Whether block i takes space: data, or a lost block (which stands for data). */
  takesSpace(i: number): boolean {
    const slot = this.words[i * 2]!;
    return slot < slotLimitMax || slot === lost;
  }

  setData(i: number, slot: number, crc: number): void {
    this.words[i * 2] = slot;
    // As unsigned 32 bits, as stored: a CRC computed with bit operations may arrive negative.
    this.words[i * 2 + 1] = crc >>> 0;
  }

  setHole(i: number): void {
    this.setState(i, hole);
  }

  setLost(i: number): void {
    this.setState(i, lost);
  }

  clear(i: number): void {
    this.setState(i, nothing);
  }

  /** True when no block holds anything: the key can go. */
  get isEmpty(): boolean {
    for (let i = 0; i < blocksPerRegion; i++) if (this.has(i)) return false;
    return true;
  }

  private setState(i: number, state: number): void {
    this.words[i * 2] = state;
    this.words[i * 2 + 1] = 0;
  }
}

function bitCount(bits: number): number {
  let count = 0;
  for (; bits !== 0; bits &= bits - 1) count += 1;
  return count;
}

function u32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}
