/** What every scenario's run of one seed reports. */
export interface SeedResult {
  readonly seed: number;
  /** The first thing the model saw that must not happen, if any. */
  readonly violation: string | undefined;
  /** The system made progress again after everything healed. */
  readonly converged: boolean;
  /** Fingerprint of the whole run: the same seed gives the same hash. */
  readonly traceHash: string;
  readonly writesAcked: number;
  readonly readsChecked: number;
  /** The fault rates drawn from the seed, for the replay line. */
  readonly faults: string;
}
