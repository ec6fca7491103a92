/**
 * V8 flags the daemon's main thread runs with: `whorl` (its shebang), `npm start` and the bench
 * scripts start `whorl serve` with them. The main thread's young generation would otherwise grow to
 * 48 MiB under the NBD front end's allocation rate (every request is short-lived garbage); 2 MiB
 * semi-spaces keep scavenges cheap and the daemon's RSS inside its bound, at no measured cost in
 * throughput (BENCHMARKS.md). Worker threads get the same bound through their resource limits
 * (src/actors/runtime.ts).
 */
export const daemonNodeFlags = ['--max-semi-space-size=2'];
