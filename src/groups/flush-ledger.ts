/** Region key (`gmap:region`) → server → the incarnation of the server that acknowledged a write. */
type Acks = Map<string, Map<number, number>>;

/**
 * An incarnation no flush reports: for a region acknowledged by two incarnations of one server, or
 * by a reply that named none.
 */
export const mixedIncarnation = -1;

/**
 * What a replica group's flushes covered. A busy bit may be cleared only once every copy that
 * acknowledged a write to the region has flushed it, and in the same incarnation: a server that
 * restarted in between lost those writes (its flush after the restart covers nothing of them),
 * and the busy bit is all that tells recovery the copies may differ.
 */
export class FlushLedger {
  /** Writes acknowledged since the last flush began. */
  private acks: Acks = new Map();
  /**
   * Per flush token: the writes it covers, the copies that flushed some of them in an earlier flush
   * that never settled (`durable`), and the incarnation each server flushed in.
   */
  private readonly flushes = new Map<
    number,
    { acks: Acks; durable: Map<string, Set<number>>; flushedBy: Map<number, number> }
  >();

  wrote(key: string, server: number, incarnation: number): void {
    record(this.acks, key, server, incarnation);
  }

  /** Regions written since the last flush began (each may hold a busy bit until a flush settles). */
  get regionsSinceFlush(): number {
    return this.acks.size;
  }

  /** Whether the region was written since the last flush began. */
  writtenSinceFlush(key: string): boolean {
    return this.acks.has(key);
  }

  /**
   * A flush begins: it covers the writes since the last one, and those of flushes never settled.
   * What a copy acknowledged and flushed in such a flush, in the same incarnation, stays durable
   * there: it is not waited for again, and that copy counts as holding it (`atRisk`).
   */
  begin(token: number): void {
    const acks = this.acks;
    const durable = new Map<string, Set<number>>();
    for (const older of this.flushes.values()) {
      for (const [key, servers] of older.durable) for (const server of servers) addTo(durable, key, server);
      for (const [key, servers] of older.acks) {
        if (!acks.has(key)) acks.set(key, new Map());
        for (const [server, incarnation] of servers) {
          if (incarnation !== mixedIncarnation && older.flushedBy.get(server) === incarnation)
            addTo(durable, key, server);
          else record(acks, key, server, incarnation);
        }
      }
    }
    this.flushes.clear();
    this.flushes.set(token, { acks, durable, flushedBy: new Map() });
    this.acks = new Map();
  }

  /** Regions the flush covers: written since the last flush that settled. */
  covers(token: number): number {
    return this.flushes.get(token)?.acks.size ?? 0;
  }

  flushedOn(token: number, server: number, incarnation: number): void {
    this.flushes.get(token)?.flushedBy.set(server, incarnation);
  }

  /**
   * Once every copy has answered flush `token`: the regions it covers that some copy acknowledged a
   * write to without flushing it in the incarnation that acknowledged it (the copy was out, its
   * flush failed, or it restarted since), with the copies that flushed every write they acknowledged there.
   */
  atRisk(token: number): Array<{ key: string; flushed: number[]; unflushed: number[] }> {
    const flush = this.flushes.get(token);
    if (!flush) return [];
    const risks: Array<{ key: string; flushed: number[]; unflushed: number[] }> = [];
    for (const [key, servers] of flush.acks) {
      const unflushed = [...servers]
        .filter(
          ([server, incarnation]) => incarnation === mixedIncarnation || flush.flushedBy.get(server) !== incarnation,
        )
        .map(([server]) => server);
      if (unflushed.length === 0) continue;
      // A copy that flushed some writes but not later ones does not hold them all.
      const flushed = [...new Set([...(flush.durable.get(key) ?? []), ...servers.keys()])].filter(
        (server) => !unflushed.includes(server),
      );
      risks.push({ key, flushed, unflushed });
    }
    return risks;
  }

  /** The flush is known complete everywhere: the regions whose every acknowledged copy it covered. */
  settle(token: number): string[] {
    const flush = this.flushes.get(token);
    this.flushes.delete(token);
    if (!flush) return [];
    const covered: string[] = [];
    for (const [key, servers] of flush.acks) {
      if ([...servers].every(([server, incarnation]) => flush.flushedBy.get(server) === incarnation)) covered.push(key);
    }
    return covered;
  }
}

function record(acks: Acks, key: string, server: number, incarnation: number): void {
  const servers = acks.get(key) ?? new Map<number, number>();
  const before = servers.get(server);
  servers.set(server, before === undefined || before === incarnation ? incarnation : mixedIncarnation);
  acks.set(key, servers);
}

function addTo(sets: Map<string, Set<number>>, key: string, server: number): void {
  const set = sets.get(key) ?? new Set<number>();
  set.add(server);
  sets.set(key, set);
}
