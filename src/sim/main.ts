import { parseArgs } from 'node:util';
import type { CoordinatorVariant } from './register/coordinator.js';
import { runRegisterSeed, type SeedResult } from './register/scenario.js';

/**
 * `npm run sim -- --seeds N [--first S]`: runs N seeds, stops at the first violation and prints
 * its seed. `npm run sim -- --seed S` (or `SEED=S npm run sim`): replays one seed and prints its
 * trace hash.
 * `--variant ack-early` runs the deliberately broken register.
 */
function main(): number {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string' },
      seed: { type: 'string' },
      first: { type: 'string', default: '1' },
      variant: { type: 'string', default: 'correct' },
    },
  });
  const variant = values.variant as CoordinatorVariant;
  if (variant !== 'correct' && variant !== 'ack-early') return usage(`--variant: '${values.variant}' is not correct or ack-early`);
  const replay = values.seed ?? (values.seeds === undefined ? process.env['SEED'] : undefined);
  if (replay !== undefined) {
    const seed = Number(replay);
    if (!Number.isSafeInteger(seed)) return usage(`--seed: '${replay}' is not an integer`);
    const result = runRegisterSeed(seed, variant);
    console.log(describe(result));
    return result.violation || !result.converged ? 1 : 0;
  }
  const count = Number(values.seeds ?? 200);
  const first = Number(values.first);
  if (!Number.isSafeInteger(count) || count <= 0) return usage(`--seeds: '${values.seeds}' is not a positive integer`);
  if (!Number.isSafeInteger(first)) return usage(`--first: '${values.first}' is not an integer`);
  let messages = 0;
  for (let seed = first; seed < first + count; seed++) {
    const result = runRegisterSeed(seed, variant);
    messages += result.messages;
    if (result.violation || !result.converged) {
      console.log(describe(result));
      console.log(`FAILED at seed ${seed}; replay with: SEED=${seed} npm run sim -- --seed ${seed}${variant === 'correct' ? '' : ` --variant ${variant}`}`);
      return 1;
    }
  }
  console.log(`${count} seeds from ${first} passed (${variant}), ${messages} messages delivered`);
  return 0;
}

function describe(result: SeedResult): string {
  const verdict = result.violation ? `VIOLATION: ${result.violation}` : result.converged ? 'ok' : 'did not converge after healing';
  return `seed ${result.seed} ${verdict}; trace ${result.traceHash}; writes acked ${result.writesAcked}, reads checked ${result.readsChecked}, messages ${result.messages}; faults ${result.faults}`;
}

function usage(message: string): number {
  console.error(`sim: ${message}`);
  return 2;
}

process.exitCode = main();
