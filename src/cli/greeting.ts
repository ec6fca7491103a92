import type { VirtualDisk } from '../model/catalog.js';
import type { ListenAddress } from '../nbd/server.js';
import { formatSize } from './size.js';

/**
 * What `whorl serve` says once, on a terminal, when it serves: where NBD listens, the disks with
 * their sizes, the data directory, and the exact commands that attach the first disk.
 */
export function greeting(options: {
  readonly addresses: readonly ListenAddress[];
  readonly disks: readonly VirtualDisk[];
  readonly dataDir: string;
}): string {
  const tcp = options.addresses.find((address) => address.kind === 'tcp');
  const unix = options.addresses.find((address) => address.kind === 'unix');
  const disk = options.disks.find((one) => one.name === 'default') ?? options.disks[0];
  const lines = ['', 'whorl is serving.'];
  if (tcp) lines.push(`  NBD:        ${hostText(tcp.host)}:${tcp.port}`);
  if (unix) lines.push(`  NBD socket: ${unix.path}`);
  lines.push(`  data:       ${options.dataDir}`);
  lines.push(
    `  disks:      ${options.disks.map((one) => `${one.name} (${formatSize(one.sizeBytes)})`).join(', ') || 'none'}`,
  );
  if (disk && tcp) {
    const host = tcp.host === '0.0.0.0' || tcp.host === '::' ? '127.0.0.1' : tcp.host;
    const port = tcp.port === 10809 ? '' : `:${tcp.port}`;
    lines.push('', `Attach ${disk.name}:`);
    lines.push(`  sudo nbd-client ${host} ${tcp.port} /dev/nbd0 -N ${disk.name}`);
    lines.push(`  nbdinfo nbd://${hostText(host)}${port}/${disk.name}`);
  }
  lines.push('More disks: whorl disk create NAME --size 10G (whorl disk help)', '');
  return `${lines.join('\n')}\n`;
}

function hostText(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
