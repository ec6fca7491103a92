/** A broken invariant is a programmer error: it crashes the caller (and the supervisor restarts it). */
export class AssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AssertionError';
  }
}

export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** For hot paths: `if (!ok) fail(\`…\`)` builds the message only when the invariant is broken. */
export function fail(message: string): never {
  throw new AssertionError(message);
}

export function assertNever(value: never, what = 'value'): never {
  throw new AssertionError(`unexpected ${what}: ${JSON.stringify(value)}`);
}
