import { parseArgs } from 'node:util';
import { runClusterSeed, type ClusterSeedOptions } from './cluster/scenario.js';
import type { ClusterLayout } from './cluster/workload.js';
import { duplicationProtocols } from '../model/catalog.js';
import { runDiskSeed } from './disk/scenario.js';
import { runRegisterSeed } from './register/scenario.js';
import { traceSimulationsTo } from './simulation.js';

/** What every scenario reports for one seed. */
interface SeedOutcome {
  readonly seed: number;
  readonly violation: string | undefined;
  readonly converged: boolean;
  readonly traceHash: string;
  readonly summary: string;
}

/** The cluster scenario's disk (`--layout`): chained declustering or a mirror protocol. */
let clusterLayout: ClusterLayout = 'chained';
/** The cluster scenario's groups flush on their own past this many regions (`--busy-regions-max`). */
let clusterOptions: ClusterSeedOptions = {};
const clusterLayouts: readonly ClusterLayout[] = ['chained', ...duplicationProtocols];

/** Scenario → variant → run. The first variant of each is the correct one. */
const scenarios: Record<string, Record<string, (seed: number) => SeedOutcome | Promise<SeedOutcome>>> = {
  register: {
    correct: (seed) => registerOutcome(runRegisterSeed(seed, 'correct')),
    'ack-early': (seed) => registerOutcome(runRegisterSeed(seed, 'ack-early')),
  },
  cluster: {
    correct: (seed) => runClusterSeed(seed, 'correct', clusterLayout, clusterOptions).then(clusterOutcome),
    'read-any-copy': (seed) =>
      runClusterSeed(seed, 'read-any-copy', clusterLayout, clusterOptions).then(clusterOutcome),
    'read-lagging-copy': (seed) =>
      runClusterSeed(seed, 'read-lagging-copy', clusterLayout, clusterOptions).then(clusterOutcome),
    'ignore-stamps': (seed) =>
      runClusterSeed(seed, 'ignore-stamps', clusterLayout, clusterOptions).then(clusterOutcome),
  },
  disk: {
    correct: (seed) => diskOutcome(runDiskSeed(seed, 'correct')),
    'trust-unflushed': (seed) => diskOutcome(runDiskSeed(seed, 'trust-unflushed')),
  },
};

function registerOutcome(result: ReturnType<typeof runRegisterSeed>): SeedOutcome {
  return {
    ...result,
    summary: `writes acked ${result.writesAcked}, reads checked ${result.readsChecked}, messages ${result.messages}; faults ${result.faults}`,
  };
}

function clusterOutcome(result: Awaited<ReturnType<typeof runClusterSeed>>): SeedOutcome {
  return {
    ...result,
    summary: `writes acked ${result.writesAcked}, reads checked ${result.readsChecked}, server kills ${result.kills}, snapshots ${result.snapshots}, answered with one copy ${result.earlyAnswers}; faults ${result.faults}`,
  };
}

function diskOutcome(result: ReturnType<typeof runDiskSeed>): SeedOutcome {
  return {
    ...result,
    summary: `writes acked ${result.writesAcked}, reads checked ${result.readsChecked}, disk kills ${result.kills}; faults ${result.faults}`,
  };
}

/**
 * `npm run sim`: the deterministic simulator's command line; `simHelp` says what each option does.
 * `--strict-flush` holds every FLUSH the router answers durable (an NBD client's view), not only
 * those every group's primary flushed: CI runs every cluster seed that way.
 */
const simOptions = {
  seeds: { type: 'string' },
  seed: { type: 'string' },
  first: { type: 'string', default: '1' },
  variant: { type: 'string', default: 'correct' },
  scenario: { type: 'string', default: 'register' },
  layout: { type: 'string', default: 'chained' },
  'busy-regions-max': { type: 'string' },
  'strict-flush': { type: 'boolean', default: false },
  'thread-deaths': { type: 'boolean', default: false },
  'whole-threads': { type: 'boolean', default: false },
  trace: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const simHelp = `Usage: npm run sim -- [options]

Runs the deterministic simulator: N seeds (stopping at the first violation), or one seed replayed.

Options:
  --scenario register|disk|cluster   what runs (default register)
  --seeds N [--first S]              run seeds S .. S+N-1 (default 200 from 1)
  --seed S                           replay one seed and print its trace hash (or SEED=S)
  --variant NAME                     a deliberately broken variant (register: ack-early;
                                     disk: trust-unflushed; cluster: read-any-copy, read-lagging-copy,
                                     ignore-stamps)
  --layout L                         the cluster's disk: ${clusterLayouts.join(', ')}
  --busy-regions-max N               regions a replica group lets be written before it flushes
  --strict-flush                     hold every FLUSH the router answers durable (an NBD client's view)
  --thread-deaths                    (chained) also kill the replica group sharing a killed server's thread
  --whole-threads                    each such death takes a whole thread of the daemon's placement
  --trace                            print every delivered message and event to stderr
  -h, --help                         this text`;

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ options: simOptions });
  } catch (error) {
    return usage((error as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    console.log(simHelp);
    return 0;
  }
  if (values.trace) traceSimulationsTo((line) => process.stderr.write(`${line}\n`));
  const scenario = scenarios[values.scenario!];
  if (!scenario) return usage(`--scenario: '${values.scenario}' is not ${Object.keys(scenarios).join(' or ')}`);
  if (!clusterLayouts.includes(values.layout as ClusterLayout))
    return usage(`--layout: '${values.layout}' is not ${clusterLayouts.join(', ')}`);
  clusterLayout = values.layout as ClusterLayout;
  const busy = values['busy-regions-max'];
  if (busy !== undefined) {
    const busyRegionsMax = Number(busy);
    if (!Number.isSafeInteger(busyRegionsMax) || busyRegionsMax < 1)
      return usage(`--busy-regions-max: '${busy}' is not a positive integer`);
    clusterOptions = { busyRegionsMax };
  }
  if (values['strict-flush']) clusterOptions = { ...clusterOptions, strictFlush: true };
  if (values['thread-deaths']) clusterOptions = { ...clusterOptions, threadDeaths: true };
  if (values['whole-threads']) clusterOptions = { ...clusterOptions, threadDeaths: true, wholeThreads: true };
  const variant = values.variant!;
  const run = scenario[variant];
  if (!run)
    return usage(
      `--variant: '${variant}' is not ${Object.keys(scenario).join(' or ')} for --scenario ${values.scenario}`,
    );
  const replay = values.seed ?? (values.seeds === undefined ? process.env['SEED'] : undefined);
  if (replay !== undefined) {
    const seed = Number(replay);
    if (!Number.isSafeInteger(seed)) return usage(`--seed: '${replay}' is not an integer`);
    const result = await run(seed);
    console.log(describe(result));
    return result.violation || !result.converged ? 1 : 0;
  }
  const count = Number(values.seeds ?? 200);
  const first = Number(values.first);
  if (!Number.isSafeInteger(count) || count <= 0) return usage(`--seeds: '${values.seeds}' is not a positive integer`);
  if (!Number.isSafeInteger(first)) return usage(`--first: '${values.first}' is not an integer`);
  for (let seed = first; seed < first + count; seed++) {
    const result = await run(seed);
    if (result.violation || !result.converged) {
      console.log(describe(result));
      const flags = `--scenario ${values.scenario}${variant === 'correct' ? '' : ` --variant ${variant}`}${clusterLayout === 'chained' ? '' : ` --layout ${clusterLayout}`}${busy === undefined ? '' : ` --busy-regions-max ${busy}`}${values['strict-flush'] ? ' --strict-flush' : ''}${values['thread-deaths'] ? ' --thread-deaths' : ''}${values['whole-threads'] ? ' --whole-threads' : ''}`;
      console.log(`FAILED at seed ${seed}; replay with: SEED=${seed} npm run sim -- --seed ${seed} ${flags}`);
      return 1;
    }
  }
  console.log(`${count} seeds from ${first} passed (${values.scenario}, ${variant})`);
  return 0;
}

function describe(result: SeedOutcome): string {
  const verdict = result.violation
    ? `VIOLATION: ${result.violation}`
    : result.converged
      ? 'ok'
      : 'did not converge after healing';
  return `seed ${result.seed} ${verdict}; trace ${result.traceHash}; ${result.summary}`;
}

function usage(message: string): number {
  console.error(`sim: ${message}`);
  return 2;
}

void main().then((code) => (process.exitCode = code));
