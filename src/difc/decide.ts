import type { Mode } from '../config/schema.ts';
import { type AgentState, type Violation, check, describe } from './evaluator.ts';
import type { Labels, Operation } from './labels.ts';
import type { Split } from './response.ts';

/**
 * The two decisions of one call. Before forwarding: may the call go to the backend at all?
 * After: which parts of the response may reach the agent, and how does the agent's label move?
 *
 * strict:    any violation, or any item that would be withheld, denies the call.
 * filter:    violating writes are denied; reads drop inaccessible items and say so (a collection
 *            whose every item is withheld comes back empty, with the notice, as in gh-aw-mcpg,
 *            so the agent can tell "filtered" from "empty"; a single document is denied).
 * propagate: violating writes are denied; reads always pass and taint the agent
 *            (secrecy gains the data's tags, integrity keeps only what the data also has).
 */
export type Before = { deny: Violation[] } | { deny?: undefined; checkResponse: boolean };

export function decideBefore(mode: Mode, agent: Labels, resource: Labels, op: Operation): Before {
  const violations = check(agent, resource, op);
  const writes = violations.filter((v) => v.rule.startsWith('write'));
  if (writes.length) return { deny: violations };
  const reads = violations.filter((v) => v.rule.startsWith('read'));
  // A read-write call has side effects: its read half must hold before it runs (unless reads taint).
  if (reads.length && (mode === 'strict' || (mode === 'filter' && op === 'read-write'))) return { deny: reads };
  return { checkResponse: op !== 'write' };
}

export type After =
  | { deny: Violation[] }
  | {
      deny?: undefined;
      result: Record<string, unknown>;
      withheld: number;
      total: number;
      /** Why the withheld items were withheld. */
      violations: Violation[];
      absorbed?: Labels;
    };

export function decideAfter(mode: Mode, agent: AgentState, result: Record<string, unknown>, split: Split): After {
  const total = split.items.length;
  if (mode === 'propagate') {
    for (const item of split.items) agent.absorb(item.labels);
    return { result, withheld: 0, total, violations: [], absorbed: agent.labels };
  }
  const verdicts = split.items.map((item) => check(agent.labels, item.labels, 'read'));
  const blocked = verdicts.filter((v) => v.length > 0);
  if (!blocked.length) return { result, withheld: 0, total, violations: [] };
  const violations = mergeViolations(blocked.flat());
  if (mode === 'strict' || (blocked.length === total && !split.collection)) return { deny: violations };
  const rebuilt = split.rebuild(verdicts.map((v) => v.length === 0));
  return { result: withNotice(rebuilt, blocked.length, total, violations), withheld: blocked.length, total, violations };
}

function mergeViolations(all: Violation[]): Violation[] {
  const byRule = new Map<Violation['rule'], Set<string>>();
  for (const v of all) for (const t of v.tags) byRule.set(v.rule, (byRule.get(v.rule) ?? new Set()).add(t));
  return [...byRule].map(([rule, tags]) => ({ rule, tags: [...tags].sort() }));
}

/**
 * The notice names integrity tags but not secrecy tags: the names of secret things the agent
 * was not shown (a private repository's name) are themselves secret. The audit log has them.
 */
function withNotice(result: Record<string, unknown>, withheld: number, total: number, why: Violation[]) {
  const shown = why.map((v) => (v.rule === 'read-secrecy' ? { ...v, tags: [`${v.tags.length} secrecy tag(s) not shown`] } : v));
  const notice = `[mcpg] ${withheld} of ${total} items withheld by information-flow policy: ${describe(shown)}`;
  const meta = { ...(result._meta as object | undefined), 'mcpg/withheld': { count: withheld, total } };
  const out: Record<string, unknown> = { ...result, _meta: meta };
  if (Array.isArray(result.content)) out.content = [...result.content, { type: 'text', text: notice }];
  return out;
}
