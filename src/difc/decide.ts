import type { Mode } from '../config/schema.ts';
import { type AgentState, type Violation, check, describe } from './evaluator.ts';
import type { Labels, Operation } from './labels.ts';
import type { Split } from './response.ts';

/**
 * The two decisions of one call. Before forwarding: may the call go to the backend at all?
 * After: which parts of the response may reach the agent, and how does the agent's label move?
 * Every response is decided, a write's too: a write can answer with data, and that data carries
 * the resource's labels unless the guard's label_response says otherwise.
 *
 * strict:    any violation, or any item that would be withheld, denies the call.
 * filter:    violating writes are denied; reads drop inaccessible items and say so (a collection
 *            whose every item is withheld comes back empty, with the notice, as in gh-aw-mcpg,
 *            so the agent can tell "filtered" from "empty"; a single document is denied).
 * propagate: violating writes are denied; reads always pass and taint the agent
 *            (secrecy gains the data's tags, integrity keeps only what the data also has).
 * A write's response the agent may not read is withheld whole in strict and filter mode; the
 * write itself was made, and the denial says so.
 */
export type Before = { deny: Violation[] } | { deny?: undefined };

export function decideBefore(mode: Mode, agent: Labels, resource: Labels, op: Operation): Before {
  const violations = check(agent, resource, op);
  const writes = violations.filter((v) => v.rule.startsWith('write'));
  if (writes.length) return { deny: violations };
  const reads = violations.filter((v) => v.rule.startsWith('read'));
  // A read-write call has side effects: its read half must hold before it runs (unless reads taint).
  if (reads.length && (mode === 'strict' || (mode === 'filter' && op === 'read-write'))) return { deny: reads };
  return {};
}

export type After =
  | {
      deny: Violation[];
      /** The call had its effect; only its response is withheld. */
      made: boolean;
      /** The denied data is the one document the agent asked for (not items it did not name). */
      asked: boolean;
    }
  | {
      deny?: undefined;
      result: Record<string, unknown>;
      withheld: number;
      total: number;
      /** Why the withheld items were withheld. */
      violations: Violation[];
      absorbed?: Labels;
    };

export function decideAfter(mode: Mode, agent: AgentState, result: Record<string, unknown>, split: Split, op: Operation): After {
  const total = split.items.length;
  if (mode === 'propagate') {
    for (const item of split.items) agent.absorb(item.labels);
    if (split.rest) agent.absorb(split.rest.labels);
    return { result, withheld: 0, total, violations: [], absorbed: agent.labels };
  }
  // One document with nothing beside it (most responses): one check.
  if (total === 1 && !split.rest && split.items[0]) {
    const violations = check(agent.labels, split.items[0].labels, 'read');
    if (!violations.length) return { result, withheld: 0, total, violations };
  }
  // Items labeled alike (a collection's default labels, one object) are checked once.
  const checked = new Map<Labels, Violation[]>();
  const verdicts = split.items.map((item) => {
    let verdict = checked.get(item.labels);
    if (!verdict) checked.set(item.labels, (verdict = check(agent.labels, item.labels, 'read')));
    return verdict;
  });
  const restBlocked = split.rest ? check(agent.labels, split.rest.labels, 'read') : [];
  const blocked = verdicts.filter((v) => v.length > 0);
  if (!blocked.length && !restBlocked.length) return { result, withheld: 0, total, violations: [] };
  const violations = mergeViolations([...blocked.flat(), ...restBlocked]);
  const made = op !== 'read';
  if (mode === 'strict' || (blocked.length === total && !split.collection)) return { deny: violations, made, asked: !split.collection };
  const rebuilt = split.rebuild(
    verdicts.map((v) => v.length === 0),
    restBlocked.length === 0,
  );
  return { result: withNotice(rebuilt, blocked.length, total, restBlocked.length > 0, violations), withheld: blocked.length, total, violations };
}

function mergeViolations(all: Violation[]): Violation[] {
  const byRule = new Map<Violation['rule'], Set<string>>();
  for (const v of all) for (const t of v.tags) byRule.set(v.rule, (byRule.get(v.rule) ?? new Set()).add(t));
  return [...byRule].map(([rule, tags]) => ({ rule, tags: [...tags].sort() }));
}

/**
 * Violations as they may be shown to the agent about data it was not given: integrity tags
 * (what the data lacks) but not secrecy tags, since the names of secret things the agent was
 * not shown (a private repository's name) are themselves secret. The audit log has them.
 */
export function shownViolations(why: Violation[]): Violation[] {
  return why.map((v) => (v.rule === 'read-secrecy' ? { ...v, tags: [`${v.tags.length} secrecy tag(s) not shown`] } : v));
}

function withNotice(result: Record<string, unknown>, withheld: number, total: number, rest: boolean, why: Violation[]) {
  const parts = [withheld || !rest ? `${withheld} of ${total} items` : '', rest ? 'the rest of the response (other content blocks, _meta)' : ''].filter(Boolean).join(' and ');
  const notice = `[mcpg] ${parts} withheld by information-flow policy: ${describe(shownViolations(why))}`;
  const meta = { ...(result._meta as object | undefined), 'mcpg/withheld': { count: withheld, total, ...(rest && { rest: true }) } };
  const out: Record<string, unknown> = { ...result, _meta: meta };
  if (Array.isArray(result.content)) out.content = [...result.content, { type: 'text', text: notice }];
  return out;
}
