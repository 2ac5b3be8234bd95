import { type Labels, type Operation, format, intersect, union, uncovered } from './labels.ts';

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
  const add = (rule: Violation['rule'], tags: string[]) => tags.length && found.push({ rule, tags });
  if (operation !== 'write') {
    add('read-secrecy', uncovered(resource.secrecy, agent.secrecy));
    add('read-integrity', uncovered(agent.integrity, resource.integrity));
  }
  if (operation !== 'read') {
    add('write-secrecy', uncovered(agent.secrecy, resource.secrecy));
    add('write-integrity', uncovered(resource.integrity, agent.integrity));
  }
  return found;
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

const frozen = (l: Labels): Labels => Object.freeze({ secrecy: Object.freeze(l.secrecy) as string[], integrity: Object.freeze(l.integrity) as string[] });

/**
 * The session's agent labels: they start from the guards' `label_agent` answers. Each state is
 * a frozen value, replaced (never changed) when the agent absorbs what it read, so a caller can
 * keep the labels it saw without copying them.
 */
export class AgentState {
  #labels: Labels;
  constructor(initial: Labels) {
    this.#labels = frozen({ secrecy: union(initial.secrecy, []), integrity: union(initial.integrity, []) });
  }
  get labels(): Labels {
    return this.#labels;
  }
  /** Propagate mode: what the agent reads taints it (secrecy grows, integrity shrinks). */
  absorb(read: Labels): void {
    this.#labels = frozen({
      secrecy: union(this.#labels.secrecy, read.secrecy),
      integrity: intersect(this.#labels.integrity, read.integrity),
    });
  }
  toString(): string {
    return format(this.#labels);
  }
}
