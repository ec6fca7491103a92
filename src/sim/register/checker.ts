import { valueOf, type Versioned } from './protocol.js';

/**
 * The model: a read that starts after write N was acknowledged must return version N or later,
 * never a version nobody wrote, and the value written with that version.
 */
export class RegisterChecker {
  lastAcked = 0;
  highestAttempted = 0;
  writesAcked = 0;
  readsChecked = 0;
  violation: string | undefined;

  writeStarted(version: number): void {
    this.highestAttempted = Math.max(this.highestAttempted, version);
  }

  writeAcked(version: number): void {
    this.lastAcked = Math.max(this.lastAcked, version);
    this.writesAcked += 1;
  }

  readReturned(result: Versioned, ackedWhenReadStarted: number, atMs: number): void {
    this.readsChecked += 1;
    if (this.violation) return;
    if (result.version < ackedWhenReadStarted) {
      this.violation = `at ${atMs.toFixed(1)} ms a read returned version ${result.version} after version ${ackedWhenReadStarted} was acknowledged`;
    } else if (result.version > this.highestAttempted) {
      this.violation = `a read returned version ${result.version}, never written (highest ${this.highestAttempted})`;
    } else if (result.version > 0 && result.value !== valueOf(result.version)) {
      this.violation = `a read returned '${result.value}' for version ${result.version}`;
    }
  }
}
