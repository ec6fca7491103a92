import path from 'node:path';
import { parseArgs } from 'node:util';
import { adminRequest } from '../admin/admin-client.js';
import type { AdminRequest, DiskInfo, ServerInfo } from '../admin/admin-protocol.js';
import { duplicationProtocols, type DuplicationProtocol } from '../model/catalog.js';
import type { VerifyReport } from '../admin/verify.js';
import { formatSize, parseSize } from './size.js';
import { UsageError } from './usage-error.js';

export const diskHelp = `Usage: whorl disk <command> [options]

Manage the virtual disks of a running whorl daemon (found with --data-dir DIR or --admin PATH).

Commands:
  create NAME --size SIZE [--replicas 1|2] [--stripe SIZE]
                       a new thin virtual disk, exported over NBD as NAME
                       (replicas 2 = chained declustering, the default; stripe default 64K)
  create NAME --size SIZE --layout mirror [--groups auto|G] --protocol P
                       CEFT mirroring: servers 0..G-1 (primary group) mirrored by G..2G-1
                       (backup group); G defaults to half the servers. P is how writes reach
                       both copies: server-sync, server-async, client-sync, client-async or
                       hybrid (async answers with one copy written; FLUSH/FUA wait for both)
  set NAME --protocol P
                       switch a mirror disk's duplication protocol, online
  list [--json]        every virtual disk
  info NAME [--json]   size, allocated bytes, replicas, health, stale bytes, connections
  resize NAME --size SIZE
                       grow a disk; clients see the new size on their next connection
  delete NAME [--force]
                       delete a disk and free its space (refused while connected unless --force)
  verify NAME [--json] compare the two copies of every allocated block of a disk or a snapshot
                       (DISK@NAME); exit 1 if they differ
  rollback DISK@SNAPSHOT [--force]
                       make the disk read as the snapshot again (refused while connected
                       unless --force); its later snapshots stay

Options:
  --data-dir DIR       the daemon's data directory (default ./whorl-data)
  --admin PATH         the daemon's admin socket (default DIR/admin.sock)
`;

export const serverHelp = `Usage: whorl server <command> [options]

The server actors of a running whorl daemon (found with --data-dir DIR or --admin PATH).

Commands:
  list [--json]        state of each server (up, resyncing, down, stopped), space, resync progress
  stop ID              take a server out (maintenance); its partners carry on and mark what it misses
  start ID             bring it back; it is resynced from its partners, then serves reads again

Options:
  --data-dir DIR       the daemon's data directory (default ./whorl-data)
  --admin PATH         the daemon's admin socket (default DIR/admin.sock)
`;

export const common = {
  'data-dir': { type: 'string', default: 'whorl-data' },
  admin: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function diskCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...common,
      size: { type: 'string' },
      replicas: { type: 'string', default: '2' },
      stripe: { type: 'string', default: '64K' },
      force: { type: 'boolean', default: false },
      layout: { type: 'string', default: 'chained' },
      groups: { type: 'string' },
      protocol: { type: 'string' },
    },
  });
  const [command, name, ...extra] = positionals;
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(diskHelp);
    return 0;
  }
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  const socket = socketOf(values);
  const needName = (): string => {
    if (!name) throw new UsageError(`whorl disk ${command}: a disk NAME is required`);
    return name;
  };
  const needSize = (): number => {
    if (values.size === undefined) throw new UsageError(`whorl disk ${command}: --size SIZE is required`);
    const sizeBytes = parseSize('--size', values.size);
    if (sizeBytes === 0 || sizeBytes % 4096 !== 0)
      throw new UsageError(`--size: '${values.size}' is not a positive multiple of 4 KiB`);
    return sizeBytes;
  };
  let request: AdminRequest;
  switch (command) {
    case 'create': {
      const replicas = Number(values.replicas);
      if (values.replicas !== '1' && values.replicas !== '2')
        throw new UsageError(`--replicas: '${values.replicas}' is not 1 or 2`);
      request = {
        command: 'disk.create',
        name: needName(),
        sizeBytes: needSize(),
        replicas: replicas as 1 | 2,
        stripeBytes: parseSize('--stripe', values.stripe!),
        ...mirrorLayout(values),
      };
      break;
    }
    case 'set':
      if (values.protocol === undefined) throw new UsageError('whorl disk set: --protocol P is required');
      request = { command: 'disk.set', name: needName(), protocol: values.protocol as DuplicationProtocol };
      break;
    case 'list':
      request = { command: 'disk.list' };
      break;
    case 'info':
      request = { command: 'disk.info', name: needName() };
      break;
    case 'resize':
      request = { command: 'disk.resize', name: needName(), sizeBytes: needSize() };
      break;
    case 'delete':
      request = { command: 'disk.delete', name: needName(), force: values.force! };
      break;
    case 'verify':
      request = { command: 'disk.verify', name: needName() };
      break;
    case 'rollback': {
      const [disk, snapshot] = splitSnapshotName(needName());
      request = { command: 'disk.rollback', disk, snapshot, force: values.force! };
      break;
    }
    default:
      throw new UsageError(`unknown disk command '${command}' (try: whorl disk help)`);
  }
  const result = await adminRequest(socket, request);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    if (request.command === 'disk.verify' && (result as VerifyReport).differing.length > 0) return 1;
  } else if (request.command === 'disk.list') printDisks(result as DiskInfo[]);
  else if (request.command === 'disk.delete') process.stdout.write(`deleted ${name}\n`);
  else if (request.command === 'disk.verify') return printVerify(result as VerifyReport);
  else printDisks([result as DiskInfo]);
  return 0;
}

/** --layout, --groups and --protocol of `disk create`, checked for what only the CLI knows. */
function mirrorLayout(values: { layout?: string; groups?: string; protocol?: string; replicas?: string }): {
  mirror?: number | 'auto';
  protocol?: DuplicationProtocol;
} {
  if (values.layout === 'chained') {
    if (values.groups !== undefined) throw new UsageError('--groups applies to --layout mirror only');
    if (values.protocol !== undefined) throw new UsageError('--protocol applies to --layout mirror only');
    return {};
  }
  if (values.layout !== 'mirror') throw new UsageError(`--layout: '${values.layout}' is not chained or mirror`);
  if (values.protocol === undefined)
    throw new UsageError(`--layout mirror needs --protocol (${duplicationProtocols.join(', ')})`);
  const groups = values.groups ?? 'auto';
  if (groups !== 'auto' && !/^[1-9][0-9]*$/.test(groups))
    throw new UsageError(`--groups: '${groups}' is not auto or a number of servers per group`);
  return { mirror: groups === 'auto' ? 'auto' : Number(groups), protocol: values.protocol as DuplicationProtocol };
}

/** DISK@NAME → [DISK, NAME]; anything else is a usage error naming the value. */
export function splitSnapshotName(full: string): [string, string] {
  const at = full.indexOf('@');
  if (at <= 0 || at === full.length - 1 || full.indexOf('@', at + 1) >= 0)
    throw new UsageError(`'${full}' is not a snapshot name: use DISK@NAME`);
  return [full.slice(0, at), full.slice(at + 1)];
}

export async function serverCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: common });
  const [command, id, ...extra] = positionals;
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(serverHelp);
    return 0;
  }
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  const needId = (): number => {
    if (id === undefined || !/^\d+$/.test(id))
      throw new UsageError(
        `whorl server ${command}: a server ID (a whole number) is required${id === undefined ? '' : `, not '${id}'`}`,
      );
    return Number(id);
  };
  let request: AdminRequest;
  switch (command) {
    case 'list':
      request = { command: 'server.list' };
      break;
    case 'stop':
      request = { command: 'server.stop', id: needId() };
      break;
    case 'start':
      request = { command: 'server.start', id: needId() };
      break;
    default:
      throw new UsageError(`unknown server command '${command}' (try: whorl server help)`);
  }
  const result = await adminRequest(socketOf(values), request);
  if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else printServers(request.command === 'server.list' ? (result as ServerInfo[]) : [result as ServerInfo]);
  const stopped = request.command === 'server.stop' ? (result as ServerInfo) : undefined;
  if (stopped && stopped.soleCopyGroups.length > 0) {
    process.stderr.write(
      `whorl: server ${stopped.id} was stopped holding writes the other copy lacks (or its marks could not be read) in the units of ${stopped.soleCopyGroups.join(', ')}: reads of them fail until it starts again\n`,
    );
  }
  return 0;
}

function printVerify(report: VerifyReport): number {
  const differing = report.differing.reduce((sum, [, count]) => sum + count, 0);
  process.stdout.write(
    `${report.name}: compared ${formatSize(report.comparedBytes)} in both copies; ${differing} block${differing === 1 ? '' : 's'} differ\n`,
  );
  for (const [first, count] of report.differing.slice(0, 20)) process.stdout.write(`  blocks ${first}+${count}\n`);
  return differing === 0 ? 0 : 1;
}

export function socketOf(values: { 'data-dir'?: string; admin?: string }): string {
  return values.admin ?? path.join(path.resolve(values['data-dir'] ?? 'whorl-data'), 'admin.sock');
}

export function printDisks(disks: DiskInfo[]): void {
  const rows = disks.map((disk) => [
    disk.name,
    formatSize(disk.sizeBytes),
    formatSize(disk.allocatedBytes),
    String(disk.replicas),
    layoutOf(disk),
    disk.health,
    formatSize(disk.staleBytes),
    String(disk.connections),
  ]);
  printTable(['NAME', 'SIZE', 'ALLOCATED', 'REPLICAS', 'LAYOUT', 'HEALTH', 'STALE', 'CONNECTIONS'], rows);
}

/** chained, or e.g. mirror/hybrid(server-sync), mirror/client-async lag 192K/1M */
function layoutOf(disk: DiskInfo): string {
  if (!disk.mirror) return disk.layout;
  const now = `${disk.mirror.driver}-${disk.mirror.sync ? 'sync' : 'async'}`;
  const protocol = disk.mirror.protocol === now ? now : `${disk.mirror.protocol}(${now})`;
  const { sync, lagBytes, lagBytesMax } = disk.mirror;
  return `mirror/${protocol}${sync ? '' : ` lag ${formatSize(lagBytes)}/${formatSize(lagBytesMax)}`}`;
}

function printServers(servers: ServerInfo[]): void {
  const nodes = servers.some((server) => server.node !== undefined);
  const rows = servers.map((server) => [
    String(server.id),
    ...(nodes ? [server.node ?? '-'] : []),
    server.state,
    server.allocatedBytes === null ? '-' : formatSize(server.allocatedBytes),
    server.capacityBytes === null ? '-' : formatSize(server.capacityBytes),
    server.resyncBytesLeft > 0 ? formatSize(server.resyncBytesLeft) : '-',
    server.resyncEtaSeconds === null ? '-' : `${server.resyncEtaSeconds}s`,
  ]);
  printTable(['ID', ...(nodes ? ['NODE'] : []), 'STATE', 'ALLOCATED', 'CAPACITY', 'RESYNC LEFT', 'ETA'], rows);
}

export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  for (const row of [header, ...rows])
    process.stdout.write(
      `${row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd()}\n`,
    );
}
