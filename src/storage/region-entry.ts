import { blocksPerRegion } from './block-keys.js';

/**
 * What a region's key (`r:<gmap>:<region>:<epoch>`, block-keys.ts) holds: for each of its 16
 * blocks, what that block holds at that epoch.
 *
 *   | bytes           | field                                                      |
 *   |-----------------|------------------------------------------------------------|
 *   | 8i .. 8i+4      | u32 LE slot of block i in the block file (file-slots.ts),  |
 *   |                 | or a state: 0xffffffff nothing at this epoch (look older), |
 *   |                 | 0xfffffffe a hole (zeros), 0xfffffffd lost                  |
 *   | 8i+4 .. 8i+8    | u32 LE CRC32C of the block's 4096 bytes (data only)         |
 *
 * A lost block was torn by crashes on every copy: it reads as an error until written again. A
 * value of any other size than 128 bytes is damaged, and reads as 16 lost blocks.
 */
export const regionEntryBytes = blocksPerRegion * 8;
const nothing = 0xffffffff;
const hole = 0xfffffffe;
const lost = 0xfffffffd;
/** Slots at or above this are states, not slots. */
export const slotLimitMax = 0xfffffff0;

export type BlockState = 'nothing' | 'data' | 'hole' | 'lost';

/** A region entry decoded into a private copy, for reading and changing. */
export class RegionEntry {
  private readonly view: DataView;

  private constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, regionEntryBytes);
  }

  /** Nothing stored for any block. */
  static empty(): RegionEntry {
    return new RegionEntry(new Uint8Array(regionEntryBytes).fill(0xff));
  }

  /** A copy of a stored value (valid after the storage's next call); damaged values read as all lost. */
  static of(value: Uint8Array): RegionEntry {
    if (value.length !== regionEntryBytes) return RegionEntry.allLost();
    return new RegionEntry(Uint8Array.prototype.slice.call(value));
  }

  static allLost(): RegionEntry {
    const entry = RegionEntry.empty();
    for (let i = 0; i < blocksPerRegion; i++) entry.setLost(i);
    return entry;
  }

  static isDamaged(value: Uint8Array): boolean {
    return value.length !== regionEntryBytes;
  }

  state(i: number): BlockState {
    const slot = this.view.getUint32(i * 8, true);
    if (slot < slotLimitMax) return 'data';
    if (slot === nothing) return 'nothing';
    return slot === hole ? 'hole' : 'lost';
  }

  /** Block i's slot, when it holds data. */
  slot(i: number): number {
    return this.view.getUint32(i * 8, true);
  }

  crc(i: number): number {
    return this.view.getUint32(i * 8 + 4, true);
  }

  /** Data (`slot` below slotLimitMax), lost and holes count as stored; `nothing` does not. */
  has(i: number): boolean {
    return this.view.getUint32(i * 8, true) !== nothing;
  }

  /** Whether block i takes space: data, or a lost block (which stands for data). */
  takesSpace(i: number): boolean {
    const state = this.state(i);
    return state === 'data' || state === 'lost';
  }

  setData(i: number, slot: number, crc: number): void {
    this.view.setUint32(i * 8, slot, true);
    this.view.setUint32(i * 8 + 4, crc, true);
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
    this.view.setUint32(i * 8, state, true);
    this.view.setUint32(i * 8 + 4, 0, true);
  }
}
