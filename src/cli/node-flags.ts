/**
 * V8 flags the daemon's main thread runs with: `whorl` (its shebang), `npm start` and the bench
 * scripts start `whorl serve` with them. The main thread's young generation would otherwise grow to
 * 48 MiB under the NBD front end's allocation rate (every request is short-lived garbage); 8 MiB
 * semi-spaces keep the daemon's RSS inside its bound. 2 MiB ones cost nothing at fio's queue
 * depths but doubled the time of a client pipelining thousands of requests, whose objects outlive
 * a small young generation (BENCHMARKS.md, "Deep pipelining"). Worker threads get a bound through
 * their resource limits (src/actors/runtime.ts).
 */
export const daemonNodeFlags = ['--max-semi-space-size=8'];
