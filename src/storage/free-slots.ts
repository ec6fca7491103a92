import { assert } from '../assert.js';

/**
 * The free slots of a block file, one bit per slot, handed out next-fit from a cursor. Blocks
 * written together are wanted in consecutive slots (one pwrite, and later one pread, per run), so a
 * request for several slots first looks for that many free in a row near the cursor.
 */
export class FreeSlots {
  private words = new Uint32Array(64);
  private cursor = 0;
  /** How many slots are free. */
  size = 0;

  /** Words a search for a run looks at before settling for scattered slots: 65,536 slots, 256 MiB of blocks. */
  static readonly runSearchWords = 2048;

  add(slot: number): void {
    const word = slot >>> 5;
    if (word >= this.words.length) this.grow(word);
    const bit = 1 << (slot & 31);
    assert((this.words[word]! & bit) === 0, `slot ${slot} freed twice`);
    this.words[word]! |= bit;
    this.size += 1;
  }

  /**
   * Up to `count` free slots, removed, ascending: a run of `count` if one is near the cursor,
   * else the first free slots from the cursor on (`takeScattered`).
   */
  take(count: number): number[] {
    const run = count > 1 ? this.takeRun(count) : [];
    return run.length > 0 ? run : this.takeScattered(count);
  }

  /** `count` free slots in a row near the cursor, removed, or none. */
  takeRun(count: number): number[] {
    const first = count <= this.size ? this.findRun(count) : -1;
    return first < 0 ? [] : this.remove(Array.from({ length: count }, (_, i) => first + i));
  }

  /**
   * Up to `count` free slots, removed, ascending: the first from the cursor on, consecutive where they
   * happen to be.
   */
  takeScattered(count: number): number[] {
    // The cursor follows the order they were found in (past a wrap, the low ones); then ascending.
    return this.remove(this.gather(Math.min(count, this.size))).sort((a, b) => a - b);
  }

  private remove(taken: number[]): number[] {
    if (taken.length === 0) return taken;
    for (const slot of taken) this.words[slot >>> 5]! &= ~(1 << (slot & 31));
    this.size -= taken.length;
    this.cursor = taken[taken.length - 1]! + 1;
    return taken;
  }

  private grow(word: number): void {
    let length = this.words.length;
    while (length <= word) length *= 2;
    const words = new Uint32Array(length);
    words.set(this.words);
    this.words = words;
  }

  /**
   * The `n`th word from the cursor's, wrapping: visit 0 holds the free slots from the cursor on;
   * visit `words.length` is the cursor's word again, whole for a run search (a run may start
   * before the cursor and go on past it) or only the slots before the cursor for a gather.
   */
  private visit(n: number, lastWhole: boolean): { w: number; x: number } {
    const total = this.words.length;
    const w = ((this.cursor >>> 5) + n) % total;
    const x = this.words[w]!;
    const below = (1 << (this.cursor & 31)) - 1;
    if (n === 0) return { w, x: (x & ~below) >>> 0 };
    if (n === total && !lastWhole) return { w, x: (x & below) >>> 0 };
    return { w, x };
  }

  /**
   * The first slot of `count` free in a row, looking at most `runSearchWords` words from the cursor on
   * (wrapping), or -1.
   */
  private findRun(count: number): number {
    const visits = Math.min(this.words.length + 1, FreeSlots.runSearchWords);
    let carryStart = 0;
    let carry = 0;
    for (let n = 0; n < visits; n++) {
      const { w, x } = this.visit(n, true);
      if (w === 0) carry = 0; // a run does not wrap round the end of the file
      if (carry > 0) {
        const low = trailingOnes(x);
        if (carry + low >= count) return carryStart;
        if (low === 32) {
          carry += 32;
          continue;
        }
      }
      if (count <= 32 && x !== 0) {
        const starts = runStarts(x, count);
        if (starts !== 0) return w * 32 + trailingZeros(starts);
      }
      const high = Math.clz32(~x);
      carry = high;
      carryStart = w * 32 + 32 - high;
    }
    return -1;
  }

  /** The first `count` free slots from the cursor on, wrapping. */
  private gather(count: number): number[] {
    const taken: number[] = [];
    for (let n = 0; taken.length < count && n <= this.words.length; n++) {
      const visit = this.visit(n, false);
      const w = visit.w;
      let x = visit.x;
      while (x !== 0 && taken.length < count) {
        const bit = trailingZeros(x);
        taken.push(w * 32 + bit);
        x &= x - 1;
      }
    }
    return taken;
  }
}

function trailingZeros(x: number): number {
  return 31 - Math.clz32(x & -x);
}

function trailingOnes(x: number): number {
  return x >>> 0 === 0xffffffff ? 32 : trailingZeros(~x);
}

/** Bits i of `x` where bits i … i + count - 1 are all set (count ≤ 32). */
function runStarts(x: number, count: number): number {
  let y = x;
  for (let have = 1; have < count;) {
    const shift = Math.min(have, count - have);
    y &= y >>> shift;
    have += shift;
  }
  return y;
}
