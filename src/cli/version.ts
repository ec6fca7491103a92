import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatVersion } from '../storage/disk-format.js';

/** The package's version, read from its package.json (two folders above dist/src/cli). */
export function packageVersion(): string {
  const file = fileURLToPath(new URL('../../../package.json', import.meta.url));
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

/** `whorl version`: what a bug report needs, one line. */
export function versionText(): string {
  return `whorl ${packageVersion()} (disk format ${formatVersion})\n`;
}
