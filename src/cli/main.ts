#!/usr/bin/env -S node --max-semi-space-size=8
import { diskCommand, serverCommand } from './admin-commands.js';
import { serve } from './serve.js';
import { cloneCommand, snapshotCommand } from './snapshot-commands.js';
import { UsageError } from './usage-error.js';
import { versionText } from './version.js';

const help = `Usage: whorl <command> [options]

whorl: replicated, snapshotted virtual disks (Petal) served over NBD.

Commands:
  serve     serve virtual disks over NBD (whorl serve --help)
  disk      create, list, inspect, resize and delete virtual disks (whorl disk help)
  snapshot  create, list and delete snapshots, exported read-only as DISK@NAME (whorl snapshot help)
  clone     make a writable disk from a snapshot (whorl clone help)
  server    list, stop and start server actors (whorl server help)
  version   the package version and the on-disk format version (also --version)
  help      this text
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'disk':
      return diskCommand(rest);
    case 'server':
      return serverCommand(rest);
    case 'snapshot':
      return snapshotCommand(rest);
    case 'clone':
      return cloneCommand(rest);
    case 'version':
    case '--version':
    case '-V':
      process.stdout.write(versionText());
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(help);
      return 0;
    default:
      throw new UsageError(`unknown command '${command}' (try: whorl help)`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`whorl: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = usage ? 2 : 1;
  },
);
