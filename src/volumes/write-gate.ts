/**
 * Orders a disk's writes around a change of its epoch (a snapshot) or global map (a rollback).
 * `hold` stops new writes from starting and hands back a promise for the writes already admitted
 * (they carry the old epoch); `open` lets the held ones go on, resolving the disk anew. Writes are
 * counted per generation: each hold starts a new one.
 */
export class WriteGate {
  private generation = 0;
  private readonly admitted = new Map<number, number>();
  private readonly drainWaiters = new Map<number, Array<() => void>>();
  private held: Promise<void> | undefined;
  private reopen: (() => void) | undefined;

  /** Resolves, with the write's generation, when a write may start; pair with `leave`. */
  async enter(): Promise<number> {
    while (this.held) await this.held;
    const generation = this.generation;
    this.admitted.set(generation, (this.admitted.get(generation) ?? 0) + 1);
    return generation;
  }

  leave(generation: number): void {
    const left = (this.admitted.get(generation) ?? 1) - 1;
    if (left > 0) return void this.admitted.set(generation, left);
    this.admitted.delete(generation);
    for (const resolve of this.drainWaiters.get(generation) ?? []) resolve();
    this.drainWaiters.delete(generation);
  }

  /** Holds new writes (one holder at a time); `drained` resolves once every earlier write is answered. */
  async hold(): Promise<{ drained: Promise<void> }> {
    while (this.held) await this.held;
    this.held = new Promise((resolve) => (this.reopen = resolve));
    const earlier = [...this.admitted.keys()];
    this.generation += 1;
    const drained = Promise.all(
      earlier.map(
        (generation) =>
          new Promise<void>((resolve) =>
            this.drainWaiters.set(generation, [...(this.drainWaiters.get(generation) ?? []), resolve]),
          ),
      ),
    ).then(() => undefined);
    return { drained };
  }

  open(): void {
    const reopen = this.reopen;
    this.held = undefined;
    this.reopen = undefined;
    reopen?.();
  }
}
