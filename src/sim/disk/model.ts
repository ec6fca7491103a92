/**
 * What each block of a simulated disk may hold. Every write and trim has a sequence number (trims
 * hold zeros; seq 0 is the block's initial zeros); one operation per block is in flight at a time,
 * so a block's sequence numbers rise with time.
 *
 *   | field        | meaning                                                              |
 *   |--------------|----------------------------------------------------------------------|
 *   | candidates   | what a read may return now                                           |
 *   | durable      | what must survive a crash (one of them): last FUA, or covered by FLUSH |
 *   | sent         | every seq sent to the block, to know what an unflushed crash may keep |
 *   | tornAllowed  | a crash kept an unflushed write: a checksum error is acceptable      |
 *   | indeterminate| writes that failed or timed out: they may still take effect, later    |
 *
 * A write whose outcome the client does not know (it failed, or timed out) may take effect at any
 * time after it was sent, as long as nothing newer has been seen or acknowledged since: a read
 * that shows an older value leaves it possible, one that shows it or a newer write does not. A
 * read never goes back in time: what a read showed stays until something newer replaces it.
 */
interface BlockModel {
  candidates: Set<number>;
  /** Crashes seen when each in-flight seq was sent: an ack that crosses a crash proves nothing. */
  sentAtCrash: Map<number, number>;
  durable: Set<number>;
  sent: number[];
  tornAllowed: boolean;
  indeterminate: Set<number>;
}

export const torn = -1;

export interface ReadTicket {
  readonly crashes: number;
  readonly candidates: ReadonlySet<number>;
}

export class DiskModel {
  private blocks: BlockModel[];
  private zeros = new Set<number>([0]);
  private crashes = 0;
  /** Snapshots' models: they see this disk's crashes and flushes, but none of its later writes. */
  private readonly frozen: DiskModel[] = [];
  private readonly frozenCovers = new WeakMap<Array<Set<number>>, Array<Array<Set<number>>>>();
  violation: string | undefined;
  writesAcked = 0;
  readsChecked = 0;

  constructor(
    blockCount: number,
    /** A deliberately wrong model that believes acknowledged writes are durable (it must be caught). */
    private readonly trustUnflushed = false,
  ) {
    this.blocks = Array.from({ length: blockCount }, () => ({
      candidates: new Set([0]),
      sentAtCrash: new Map(),
      durable: new Set([0]),
      sent: [],
      tornAllowed: false,
      indeterminate: new Set(),
    }));
  }

  sent(block: number, seq: number, zeros: boolean): void {
    if (zeros) this.zeros.add(seq);
    this.blocks[block]!.sent.push(seq);
    this.blocks[block]!.sentAtCrash.set(seq, this.crashes);
  }

  acked(block: number, seq: number, durable: boolean): void {
    const model = this.blocks[block]!;
    const crossedCrash = model.sentAtCrash.get(seq) !== this.crashes;
    model.sentAtCrash.delete(seq);
    this.writesAcked += 1;
    for (const pending of model.indeterminate) if (pending < seq) model.indeterminate.delete(pending);
    if (durable || this.trustUnflushed) {
      model.candidates = new Set([seq]);
      model.durable = new Set([seq]);
    } else if (crossedCrash) {
      // Done before the crash (and maybe lost with it) or after it: either way a candidate.
      model.candidates.add(seq);
    } else {
      model.candidates = new Set([seq]);
    }
  }

  /** A write or trim that timed out or failed may or may not have landed. */
  failed(block: number, seq: number): void {
    this.blocks[block]!.sentAtCrash.delete(seq);
    this.blocks[block]!.candidates.add(seq);
    this.blocks[block]!.indeterminate.add(seq);
  }

  /**
   * The model of a snapshot taken now (no write in flight): it holds what the disk may hold now,
   * and from now on follows the disk's crashes and flushes (the epochs share the disks), not its writes.
   */
  freeze(): DiskModel {
    const copy = new DiskModel(this.blocks.length, this.trustUnflushed);
    copy.blocks = this.blocks.map((model) => ({
      ...model,
      candidates: new Set(model.candidates),
      sentAtCrash: new Map(model.sentAtCrash),
      durable: new Set(model.durable),
      sent: [...model.sent],
      indeterminate: new Set(model.indeterminate),
    }));
    copy.zeros = this.zeros;
    copy.crashes = this.crashes;
    this.frozen.push(copy);
    return copy;
  }

  /** What a FLUSH sent now covers, to hand to `flushed` when it is answered. */
  flushCovers(): Array<Set<number>> {
    const covers = this.blocks.map((model) => new Set(model.candidates));
    this.frozenCovers.set(
      covers,
      this.frozen.map((model) => model.flushCovers()),
    );
    return covers;
  }

  flushed(covers: Array<Set<number>>): void {
    // A snapshot made after the flush was sent holds only writes sent before it: the same covers.
    this.frozen.forEach((model, i) => model.flushed(this.frozenCovers.get(covers)?.[i] ?? covers));
    covers.forEach((cover, block) => {
      const model = this.blocks[block]!;
      if (Math.min(...cover) >= Math.min(...model.durable)) model.durable = cover;
    });
  }

  /** The disk died: each block holds something durable or something sent after it. */
  crashed(): void {
    for (const model of this.frozen) model.crashed();
    this.crashes += 1;
    for (const model of this.blocks) {
      const floor = Math.min(...model.durable);
      const newer = model.sent.filter((seq) => seq > floor && !model.durable.has(seq));
      model.candidates = new Set([...model.durable, ...newer]);
      model.tornAllowed ||= newer.length > 0;
    }
  }

  /** A read is about to be sent: what it may see, should its answer cross a crash. */
  readSent(block: number): ReadTicket {
    return { crashes: this.crashes, candidates: new Set(this.blocks[block]!.candidates) };
  }

  /**
   * A read returned `seq` (0 for zeros, `torn` for a checksum error, NaN for bytes no write made).
   * A read answered across a crash may have been served before it: it may show what the block held
   * then, and it narrows nothing.
   */
  read(block: number, seq: number, atMs: number, ticket: ReadTicket): void {
    const model = this.blocks[block]!;
    this.readsChecked += 1;
    if (this.violation) return;
    const crossedCrash = ticket.crashes !== this.crashes;
    const candidates = crossedCrash ? new Set([...model.candidates, ...ticket.candidates]) : model.candidates;
    const zeroCandidate = [...candidates].some((candidate) => this.zeros.has(candidate));
    const ok =
      seq === torn
        ? model.tornAllowed || candidates.has(torn)
        : seq === 0
          ? zeroCandidate
          : candidates.has(seq) && !this.zeros.has(seq);
    if (!ok) {
      const said =
        seq === torn
          ? 'a checksum error'
          : seq === 0
            ? 'zeros'
            : Number.isNaN(seq)
              ? 'bytes no write made'
              : `write ${seq}`;
      this.violation = `at ${atMs.toFixed(1)} ms block ${block} read ${said}; it may hold only ${[...candidates].map((c) => (this.zeros.has(c) ? `zeros(${c})` : `write ${c}`)).join(', ')}`;
      return;
    }
    if (crossedCrash) return;
    const shown = seq !== 0 ? [seq] : [...model.candidates].filter((candidate) => this.zeros.has(candidate));
    // Writes of unknown outcome newer than what the read showed may still take effect.
    const oldest = Math.min(...shown);
    for (const pending of model.indeterminate) if (pending <= oldest) model.indeterminate.delete(pending);
    model.candidates = new Set([...shown, ...model.indeterminate]);
  }
}
