import { assert } from '../assert.js';

interface Event {
  readonly atMs: number;
  readonly seq: number;
  readonly run: () => void;
  cancelled: boolean;
}

/** Events pending in one simulation; a run that schedules more has a bug (or a livelock). */
export const eventsMax = 1_000_000;

/**
 * A virtual clock and an event queue ordered by (time, insertion order): the only source of
 * ordering in a simulation, so one seed always gives the same run.
 */
export class Scheduler {
  private heap: Event[] = [];
  private seq = 0;
  nowMs = 0;
  executed = 0;

  at(delayMs: number, run: () => void): Event {
    assert(delayMs >= 0 && Number.isFinite(delayMs), `delay ${delayMs}`);
    return this.atTime(this.nowMs + delayMs, run);
  }

  /**
   * Runs `run` at virtual time `atMs` exactly. Events at one time run in the order they were
   * scheduled; a caller that orders events by time needs this form, since `now + (t - now)` can
   * round below `t` (sim register seed 1762: two flushes due at one time completed out of order).
   */
  atTime(atMs: number, run: () => void): Event {
    assert(atMs >= this.nowMs && Number.isFinite(atMs), `time ${atMs} before now ${this.nowMs}`);
    assert(this.heap.length < eventsMax, 'event queue overflow');
    const event: Event = { atMs, seq: this.seq++, run, cancelled: false };
    this.push(event);
    return event;
  }

  cancel(event: unknown): void {
    if (event) (event as Event).cancelled = true;
  }

  /** Runs events up to `untilMs`; false if the queue ran dry first. */
  runUntil(untilMs: number, stop: () => boolean = () => false): boolean {
    while (this.heap.length > 0) {
      if (stop()) return true;
      if (!this.step(untilMs)) break;
    }
    return this.reach(untilMs);
  }

  /**
   * `runUntil` for code that awaits promises (the router): after each event, `settle` may return
   * a promise to wait for, during which the microtasks that event started run out, in their one
   * order, before the next event.
   */
  async runUntilSettled(
    untilMs: number,
    stop: () => boolean,
    settle: () => Promise<void> | undefined,
  ): Promise<boolean> {
    while (this.heap.length > 0) {
      if (stop()) return true;
      if (!this.step(untilMs)) break;
      const settling = settle();
      if (settling) await settling;
    }
    return this.reach(untilMs);
  }

  /** Runs the next event unless it is due after `untilMs` (false then). */
  private step(untilMs: number): boolean {
    const next = this.heap[0]!;
    if (next.atMs > untilMs) return false;
    this.pop();
    if (next.cancelled) return true;
    this.nowMs = next.atMs;
    this.executed += 1;
    next.run();
    return true;
  }

  /** Nothing left before `untilMs`: the clock moves there; false if the queue ran dry. */
  private reach(untilMs: number): boolean {
    this.nowMs = Math.max(this.nowMs, untilMs);
    return this.heap.length > 0;
  }

  private push(event: Event): void {
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === i) return;
      [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
      i = smallest;
    }
  }
}

function before(a: Event, b: Event): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}
