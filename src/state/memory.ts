import { randomBytes } from 'node:crypto';
import { type Labels, absorbed } from '../difc/labels.ts';
import type { SessionRecord, SharedState } from './shared.ts';

/** One process's state, when there are no replicas to share it with (no `[gateway] state`). */
export class MemoryState implements SharedState {
  readonly where = 'memory';
  readonly reachable = true;
  readonly #labels = new Map<string, Labels>();
  readonly #inFlight = new Map<string, number>();

  // Answered at once, not as promises (src/shared/awaitable.ts).
  labels(agent: string, initial: Labels): Labels {
    let labels = this.#labels.get(agent);
    if (!labels) this.#labels.set(agent, (labels = initial));
    return labels;
  }

  absorb(agent: string, initial: Labels, read: Labels): Labels {
    const after = absorbed(this.labels(agent, initial), read);
    this.#labels.set(agent, after);
    return after;
  }

  admit(agent: string, max: number): (() => void) | undefined {
    const n = this.#inFlight.get(agent) ?? 0;
    if (n >= max) return undefined;
    this.#inFlight.set(agent, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inFlight.set(agent, (this.#inFlight.get(agent) ?? 1) - 1);
    };
  }

  readonly #secrets = new Map<string, Buffer>();
  async secret(name: string): Promise<Buffer> {
    let s = this.#secrets.get(name);
    if (!s) this.#secrets.set(name, (s = randomBytes(32)));
    return s;
  }

  // One process serves its sessions itself: none to take up from another.
  async rememberSession(_id: string, _record: SessionRecord): Promise<void> {}
  async session(): Promise<SessionRecord | undefined> {
    return undefined;
  }
  async forgetSession(): Promise<void> {}
  async close(): Promise<void> {}
}
