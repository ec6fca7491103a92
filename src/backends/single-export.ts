import type { Backend, ExportCatalog, ExportListing } from '../nbd/backend.js';

/** A catalog of one export, which is also the default export (the empty name). */
export class SingleExportCatalog implements ExportCatalog {
  constructor(
    private readonly name: string,
    private readonly backend: Backend,
  ) {}

  list(): ExportListing[] {
    return [{ name: this.name, description: this.backend.description }];
  }

  open(name: string): Backend | undefined {
    return name === '' || name === this.name ? this.backend : undefined;
  }
}
