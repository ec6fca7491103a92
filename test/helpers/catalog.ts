import type { Backend, ExportCatalog, ExportListing } from '../../src/nbd/backend.js';

/** Several named exports; the first is the default. */
export class NamedCatalog implements ExportCatalog {
  constructor(private readonly exports: ReadonlyMap<string, Backend>) {}

  list(): ExportListing[] {
    return [...this.exports].map(([name, backend]) => ({ name, description: backend.description }));
  }

  open(name: string): Backend | undefined {
    return name === '' ? this.exports.values().next().value : this.exports.get(name);
  }
}
