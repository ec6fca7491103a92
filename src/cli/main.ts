#!/usr/bin/env node
import { serve } from './serve.js';
import { UsageError } from './usage-error.js';

const help = `Usage: whorl <command> [options]

whorl: replicated, snapshotted virtual disks (Petal) served over NBD.

Commands:
  serve     serve virtual disks over NBD (whorl serve --help)
  help      this text
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
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
