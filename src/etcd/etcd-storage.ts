import type { Etcd3 } from 'etcd3';
import { MemoryStorage } from '../actors/memory-storage.js';
import { etcdClient } from './connect.js';

/**
 * An actor's storage kept in etcd under `PREFIX/state/<actor>/`: the control actor's VDir, global
 * maps, server states and terms when several hosts share them. The actor reads and writes its
 * copy in memory (loaded whole when it starts: control state is small); a flush writes what changed
 * since the last one in one etcd transaction, in flush order.
 *
 * **Fencing.** The transaction is guarded by the fence key (the monitor key, written on its
 * holder's lease): it commits only while that key has the create revision this storage was opened
 * with. A node that lost the monitor role — its lease expired while it was paused or cut off, and
 * another node created the key anew — gets `flushed(ok: false)` and nothing it wrote lands; the
 * actor then fails (its supervisor restarts it, which reloads what etcd holds).
 */
export interface EtcdStorageOptions {
  readonly urls: readonly string[];
  readonly prefix: string;
  readonly actor: string;
  readonly fence: { readonly key: string; readonly createRevision: string };
}

/** etcd's default limit on operations per transaction. */
const opsPerTransactionMax = 128;

export class EtcdStorage extends MemoryStorage {
  private dirty = new Map<string, Uint8Array | undefined>();
  private chain: Promise<void> = Promise.resolve();
  private readonly base: string;

  private constructor(
    private readonly client: Etcd3,
    private readonly options: EtcdStorageOptions,
  ) {
    super();
    this.base = `${options.prefix}/state/${options.actor}/`;
  }

  static async open(options: EtcdStorageOptions): Promise<EtcdStorage> {
    const storage = new EtcdStorage(etcdClient(options.urls), options);
    try {
      const loaded = await storage.client.getAll().prefix(storage.base).exec();
      for (const kv of loaded.kvs) storage.put(kv.key.toString().slice(storage.base.length), new Uint8Array(kv.value));
    } catch (error) {
      storage.client.close();
      throw error;
    }
    storage.dirty.clear(); // what was loaded is what etcd holds
    return storage;
  }

  override put(key: string, value: Uint8Array): void {
    super.put(key, value);
    this.dirty.set(key, value);
  }

  override delete(key: string): void {
    super.delete(key);
    this.dirty.set(key, undefined);
  }

  override flush(): number {
    const token = this.nextToken++;
    const changes = [...this.dirty];
    this.dirty = new Map();
    this.chain = this.chain.then(async () => {
      const ok = await this.commit(changes).catch(() => false);
      this.flushed(token, ok);
    });
    return token;
  }

  async close(): Promise<void> {
    await this.chain;
    this.client.close();
  }

  /** Writes `changes` in fenced transactions (etcd's limit per transaction apart, one). */
  private async commit(changes: ReadonlyArray<[string, Uint8Array | undefined]>): Promise<boolean> {
    const { key, createRevision } = this.options.fence;
    for (let at = 0; at < changes.length || at === 0; at += opsPerTransactionMax) {
      const ops = changes
        .slice(at, at + opsPerTransactionMax)
        .map(([name, value]) =>
          value === undefined
            ? this.client.delete().key(this.base + name)
            : this.client.put(this.base + name).value(Buffer.from(value)),
        );
      const result = await this.client
        .if(key, 'Create', '==', createRevision)
        .then(...ops)
        .commit();
      if (!result.succeeded) return false;
    }
    return true;
  }
}

/** The StorageSpec export: opens on the thread that runs the actor. */
export function openEtcdStorage(options: EtcdStorageOptions): Promise<EtcdStorage> {
  return EtcdStorage.open(options);
}
