import os from 'node:os';
import { benchActors } from './actors.js';
import { benchCeft } from './ceft.js';
import { benchCluster } from './cluster.js';
import { benchFloor } from './floor.js';
import { benchHandoff } from './handoff.js';
import { benchHosts } from './hosts.js';
import { benchLinks } from './links.js';
import { benchLmdbCosts } from './lmdb-costs.js';
import { benchNbd } from './nbd.js';
import { benchPipeline } from './pipeline.js';
import { benchSnapshot } from './snapshot.js';
import { benchStorage } from './storage.js';
import { benchStripe } from './stripe.js';

/** `npm run bench -- <suite> [options]`: prints the command, the machine and the figures. */
const suites: Record<string, (args: string[]) => Promise<void>> = {
  nbd: benchNbd,
  actors: benchActors,
  storage: benchStorage,
  lmdb: benchLmdbCosts,
  cluster: benchCluster,
  snapshot: benchSnapshot,
  ceft: benchCeft,
  stripe: benchStripe,
  handoff: benchHandoff,
  floor: benchFloor,
  hosts: benchHosts,
  links: benchLinks,
  pipeline: benchPipeline,
};

async function main(): Promise<void> {
  const [suite = 'nbd', ...args] = process.argv.slice(2);
  const run = suites[suite];
  if (!run) {
    console.error(`bench: unknown suite '${suite}' (suites: ${Object.keys(suites).join(', ')})`);
    process.exitCode = 2;
    return;
  }
  console.log(`command: npm run bench -- ${[suite, ...args].join(' ')}`);
  console.log(`date: ${new Date().toISOString()}`);
  console.log(
    `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`,
  );
  await run(args);
}

void main();
