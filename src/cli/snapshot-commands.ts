import { parseArgs } from 'node:util';
import { adminRequest } from '../admin/admin-client.js';
import type { AdminRequest, DiskInfo, SnapshotInfo } from '../admin/admin-protocol.js';
import { common, printDisks, printTable, socketOf, splitSnapshotName } from './admin-commands.js';
import { formatSize } from './size.js';
import { UsageError } from './usage-error.js';

export const snapshotHelp = `Usage: whorl snapshot <command> [options]

Snapshots of virtual disks (Petal epochs): crash-consistent, read-only, exported over NBD as
DISK@NAME.

Commands:
  create DISK@NAME     freeze what the disk holds now; writes answered before are in it, later
                       ones are not
  list DISK [--json]   the disk's snapshots: creation time, size, bytes each holds alone
  delete DISK@NAME [--wait]
                       forget a snapshot (refused while a clone uses it); its blocks are freed in
                       the background (--wait: until they are)

Options:
  --data-dir DIR       the daemon's data directory (default ./whorl-data)
  --admin PATH         the daemon's admin socket (default DIR/admin.sock)
`;

export const cloneHelp = `Usage: whorl clone create DISK@NAME NEWDISK [options]

A writable virtual disk NEWDISK that starts as the snapshot DISK@NAME and shares its unchanged
blocks; writes to either never show in the other.

Options:
  --data-dir DIR       the daemon's data directory (default ./whorl-data)
  --admin PATH         the daemon's admin socket (default DIR/admin.sock)
`;

export async function snapshotCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...common, wait: { type: 'boolean', default: false } },
  });
  const [command, name, ...extra] = positionals;
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(snapshotHelp);
    return 0;
  }
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  if (!name)
    throw new UsageError(`whorl snapshot ${command}: ${command === 'list' ? 'a DISK' : 'DISK@NAME'} is required`);
  let request: AdminRequest;
  switch (command) {
    case 'create': {
      const [disk, snapshot] = splitSnapshotName(name);
      request = { command: 'snapshot.create', disk, name: snapshot };
      break;
    }
    case 'list':
      if (name.includes('@')) throw new UsageError(`whorl snapshot list: name a disk, not '${name}'`);
      request = { command: 'snapshot.list', disk: name };
      break;
    case 'delete': {
      const [disk, snapshot] = splitSnapshotName(name);
      request = { command: 'snapshot.delete', disk, name: snapshot, wait: values.wait! };
      break;
    }
    default:
      throw new UsageError(`unknown snapshot command '${command}' (try: whorl snapshot help)`);
  }
  const result = await adminRequest(socketOf(values), request);
  if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else if (request.command === 'snapshot.list') printSnapshots(result as SnapshotInfo[]);
  else if (request.command === 'snapshot.create') {
    const created = result as SnapshotInfo & { pauseMs: number; tookMs: number };
    process.stdout.write(
      `created ${created.name} (writes held ${created.pauseMs.toFixed(1)} ms, took ${created.tookMs.toFixed(1)} ms)\n`,
    );
  } else {
    const deleted = result as { name: string; collecting: boolean };
    process.stdout.write(
      `deleted ${deleted.name}${deleted.collecting ? '; its blocks are being freed in the background' : ''}\n`,
    );
  }
  return 0;
}

export async function cloneCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: common });
  const [command, source, name, ...extra] = positionals;
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(cloneHelp);
    return 0;
  }
  if (command !== 'create') throw new UsageError(`unknown clone command '${command}' (try: whorl clone help)`);
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  if (!source || !name) throw new UsageError('whorl clone create: DISK@NAME and NEWDISK are required');
  splitSnapshotName(source);
  const result = await adminRequest(socketOf(values), { command: 'clone.create', source, name });
  if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else printDisks([result as DiskInfo]);
  return 0;
}

function printSnapshots(snapshots: SnapshotInfo[]): void {
  const rows = snapshots.map((snapshot) => [
    snapshot.name,
    snapshot.createdAt,
    formatSize(snapshot.sizeBytes),
    formatSize(snapshot.heldAloneBytes),
    snapshot.clones.join(',') || '-',
  ]);
  printTable(['NAME', 'CREATED', 'SIZE', 'HELD ALONE', 'CLONES'], rows);
}
