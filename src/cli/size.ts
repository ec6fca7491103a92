import { UsageError } from './usage-error.js';

const multipliers: Record<string, number> = {
  '': 1,
  K: 2 ** 10,
  M: 2 ** 20,
  G: 2 ** 30,
  T: 2 ** 40,
  P: 2 ** 50,
};

/**
 * Human sizes: `4096`, `512K`, `512M`, `10G`, `1T` (binary units; `10GiB` and `10GB` mean the
 * same). The result is a whole number of 512-byte sectors, because the Linux client sees
 * capacity = size >> 9.
 */
export function parseSize(option: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:i?B)?$/i.exec(text.trim());
  if (!match) throw new UsageError(`${option}: '${text}' is not a size (examples: 512M, 10G, 1T)`);
  const bytes = Number(match[1]) * multipliers[match[2]!.toUpperCase()]!;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new UsageError(`${option}: '${text}' is out of range (must be between 512 bytes and 8 PiB)`);
  }
  if (bytes % 512 !== 0) throw new UsageError(`${option}: '${text}' is not a multiple of 512 bytes`);
  return bytes;
}

export function formatSize(bytes: number): string {
  for (const unit of ['P', 'T', 'G', 'M', 'K']) {
    const multiplier = multipliers[unit]!;
    if (bytes >= multiplier && bytes % multiplier === 0) return `${bytes / multiplier}${unit}`;
  }
  return `${bytes}`;
}
