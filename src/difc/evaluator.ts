import { MemoryState } from '../state/memory.ts';
import type { Awaitable } from '../shared/awaitable.ts';
import { type Labels, type Operation, absorbed, format, union, uncovered } from './labels.ts';

/** One reason a flow is not allowed: the tags that block it, and which rule they break. */
export interface Violation {
  rule: 'read-secrecy' | 'read-integrity' | 'write-secrecy' | 'write-integrity';
  tags: string[];
}

/**
 * Read:  resource secrecy ⊆ agent secrecy, and resource integrity ⊇ agent integrity.
 * Write: agent secrecy ⊆ resource secrecy, and agent integrity ⊇ resource integrity.
 * Read-write: both.
 */
export function check(agent: Labels, resource: Labels, operation: Operation): Violation[] {
  const found: Violation[] = [];
  if (operation !== 'write') {
    missing(found, 'read-secrecy', resource.secrecy, agent.secrecy);
    missing(found, 'read-integrity', agent.integrity, resource.integrity);
  }
  if (operation !== 'read') {
    missing(found, 'write-secrecy', agent.secrecy, resource.secrecy);
    missing(found, 'write-integrity', resource.integrity, agent.integrity);
  }
  return found;
}

/** A violation of `rule` for the tags of `subset` that `superset` does not cover, if any (none looked for in an empty subset: a check a call). */
function missing(found: Violation[], rule: Violation['rule'], subset: readonly string[], superset: readonly string[]): void {
  if (!subset.length) return;
  const tags = uncovered(subset, superset);
  if (tags.length) found.push({ rule, tags });
}

const EXPLAIN: Record<Violation['rule'], string> = {
  'read-secrecy': 'the resource carries secrecy tags the agent is not cleared for',
  'read-integrity': 'the resource lacks integrity tags the agent requires',
  'write-secrecy': 'the agent carries secrecy tags the resource does not accept',
  'write-integrity': 'the agent lacks integrity tags the resource requires',
};

export function describe(violations: Violation[]): string {
  return violations.map((v) => `${EXPLAIN[v.rule]}: ${v.tags.join(', ')}`).join('; ');
}

const normal = (l: Labels): Labels => ({ secrecy: union(l.secrecy, []), integrity: union(l.integrity, []) });
const merged = (a: Labels, read: Labels): Labels => frozen(absorbed(a, read));
const frozen = (l: Labels): Labels => Object.freeze({ secrecy: Object.freeze(l.secrecy) as string[], integrity: Object.freeze(l.integrity) as string[] });

/** Where an agent's labels are kept, so that every replica sees every read (src/state). */
export interface LabelStore {
  labels(agent: string, initial: Labels): Awaitable<Labels>;
  absorb(agent: string, initial: Labels, read: Labels): Awaitable<Labels>;
}

/**
 * An agent's labels, as this process knows them: they start from the guards' `label_agent`
 * answers and are kept in the store all replicas share. Each state is a frozen value, replaced
 * (never changed) when the agent absorbs what it read, so a caller can keep the labels it saw
 * without copying them. `refresh` takes the stored labels before a decision; what the agent read
 * is merged here at once (`absorb`) and recorded in the store by `commit`, which the caller
 * awaits before it gives the agent the data: a write checked on any replica sees every read
 * given before it.
 */
export class AgentState {
  #labels: Labels;
  /** Reads absorbed here and not yet recorded in the store. */
  #pending?: Labels;
  readonly #store: LabelStore;
  readonly #agent: string;
  readonly #initial: Labels;
  #lastStored?: Labels;
  #lastNormal?: Labels;
  constructor(initial: Labels, store: LabelStore = new MemoryState(), agent = 'agent') {
    this.#initial = frozen(normal(initial));
    this.#labels = this.#initial;
    this.#store = store;
    this.#agent = agent;
  }
  get labels(): Labels {
    return this.#labels;
  }
  /** Propagate mode: what the agent reads taints it (secrecy grows, integrity shrinks). */
  absorb(read: Labels): void {
    this.#labels = merged(this.#labels, read);
    this.#pending = this.#pending ? merged(this.#pending, read) : frozen(normal(read));
  }
  /**
   * The labels as the store has them now, with what this process absorbed and has not recorded
   * yet. A promise only when the store answers with one (a shared store; not the in-memory one).
   */
  refresh(): Promise<void> | undefined {
    const stored = this.#store.labels(this.#agent, this.#initial);
    if (stored instanceof Promise) return stored.then((s) => this.#take(s));
    this.#take(stored);
  }
  #take(stored: Labels): void {
    const normal = this.#normal(stored);
    this.#labels = this.#pending ? merged(normal, this.#pending) : normal;
  }
  /** The store's labels sorted and frozen; the same value again (an in-memory store's) is not done again. */
  #normal(stored: Labels): Labels {
    if (stored !== this.#lastStored) this.#lastNormal = frozen(normal((this.#lastStored = stored)));
    return this.#lastNormal!;
  }
  /**
   * Records what the agent read in the store, in one step; fails (and keeps it to record) when the
   * store cannot. A promise only when there is something to record.
   */
  commit(): Promise<void> | undefined {
    const pending = this.#pending;
    if (!pending) return;
    this.#pending = undefined;
    return this.#record(pending);
  }
  async #record(pending: Labels): Promise<void> {
    try {
      this.#take(await this.#store.absorb(this.#agent, this.#initial, pending));
    } catch (err) {
      this.#pending = this.#pending ? merged(pending, this.#pending) : pending;
      throw err;
    }
  }
  toString(): string {
    return format(this.#labels);
  }
}
