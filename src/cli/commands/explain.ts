import type { CommandModule } from 'yargs';
import { z } from 'zod';
import type { Violation } from '../../difc/evaluator.ts';
import type { AuditRecord } from '../../proxy/audit.ts';
import { McpgError, fsReason } from '../../shared/errors.ts';
import { readUserFile } from '../../shared/files.ts';
import { printableLine } from '../../shared/terminal.ts';
import { out } from '../output.ts';

interface Args {
  'audit-log': string;
  id?: number;
  json: boolean;
}

/** Where a tag the agent carried came from: the earlier read that added it. */
interface Origin {
  tag: string;
  id: number;
  server: string;
  tool: string;
  time: string;
}

export interface Explanation {
  id: number;
  time: string;
  call: string;
  decision: AuditRecord['decision'];
  resource: AuditRecord['resource'];
  operation: AuditRecord['operation'];
  agent: AuditRecord['agent_before'];
  origins: Origin[];
  violations: Violation[];
  fixes: string[];
  approval: AuditRecord['approval'];
  reason: string | null;
}

const FIX: Record<Violation['rule'], (tags: string, guard: string, server: string) => string> = {
  'read-secrecy': (tags, guard) => `clear the agent for ${tags} (a policy of guard "${guard}" that gives the agent that secrecy, e.g. allow-only repos = "all")`,
  'read-integrity': (tags, guard) => `stop requiring ${tags} of what the agent reads (a lower min-integrity in guard "${guard}"'s policy)`,
  'write-secrecy': (tags, _guard, server) =>
    `let server "${server}" accept ${tags} (its write-sink accept list), or do not read data labeled ${tags} before this write, or ask a person (on_violation = "ask" on "${server}")`,
  'write-integrity': (tags, guard) => `give the agent ${tags} (a higher min-integrity in the policy of guard "${guard}")`,
};

/** The decision `id` (the last one by default) in plain words: what, why, and what would change it. */
export function explain(lines: AuditRecord[], id?: number): Explanation {
  const decisions = new Map<number, AuditRecord>();
  for (const l of lines) decisions.set(l.id, l);
  const target = id === undefined ? [...decisions.values()].pop() : decisions.get(id);
  if (!target) throw new McpgError('USAGE', id === undefined ? 'the audit log holds no decision' : `the audit log holds no call with id ${id}`);
  // Each secrecy tag the agent carried, traced to the first earlier line whose read added it.
  const origins: Origin[] = [];
  for (const tag of target.agent_before.secrecy) {
    const from = lines.find((l) => l.id < target.id && !l.agent_before.secrecy.includes(tag) && l.agent_after.secrecy.includes(tag));
    if (from) origins.push({ tag, id: from.id, server: from.server, tool: from.tool, time: from.time });
  }
  const fixes = target.violations.map((v) => FIX[v.rule](v.tags.join(', '), target.guard, target.server));
  return {
    id: target.id,
    time: target.time,
    call: `${target.method} ${target.tool} on server "${target.server}"`,
    decision: target.decision,
    resource: target.resource,
    operation: target.operation,
    agent: target.agent_before,
    origins,
    violations: target.violations,
    fixes,
    approval: target.approval ?? null,
    reason: target.reason,
  };
}

const labels = z.object({ secrecy: z.array(z.string()), integrity: z.array(z.string()) });
/** What explain reads of an audit line; anything else in it is ignored. */
const auditLine = z.looseObject({
  id: z.number(),
  time: z.string(),
  server: z.string(),
  guard: z.string(),
  method: z.string(),
  tool: z.string(),
  decision: z.enum(['allow', 'filter', 'deny', 'error']),
  operation: z.enum(['read', 'write', 'read-write']).nullable(),
  resource: labels.extend({ description: z.string() }).nullable(),
  agent_before: labels,
  agent_after: labels,
  violations: z.array(z.object({ rule: z.enum(['read-secrecy', 'read-integrity', 'write-secrecy', 'write-integrity']), tags: z.array(z.string()) })),
  reason: z.string().nullable(),
  approval: z.looseObject({ answer: z.string(), by: z.string(), time: z.string(), shown: z.string() }).nullable().optional(),
});

const tags = (t: string[]) => (t.length ? t.join(', ') : 'none');

function words(e: Explanation): string {
  const lines = [`call ${e.id} at ${e.time}: ${e.call} — ${e.decision}`];
  if (e.resource) lines.push(`the guard labeled it a ${e.operation}: secrecy ${tags(e.resource.secrecy)}, integrity ${tags(e.resource.integrity)} (${e.resource.description})`);
  lines.push(`the agent then carried secrecy ${tags(e.agent.secrecy)}, integrity ${tags(e.agent.integrity)}`);
  for (const o of e.origins) lines.push(`  ${o.tag}: from call ${o.id}, ${o.tool} on server "${o.server}" at ${o.time}`);
  if (e.reason) lines.push(`why: ${e.reason}`);
  if (e.approval) lines.push(`asked the human (${e.approval.by}, ${e.approval.time}): ${e.approval.answer}; shown: "${e.approval.shown}"`);
  if (e.fixes.length) lines.push('what would let it pass:', ...e.fixes.map((f) => `  - ${f}`));
  // Each line is one line whatever the audit log holds (a tool name with a newline or an escape).
  return lines.map(printableLine).join('\n');
}

export const explainCommand: CommandModule<object, Args> = {
  command: 'explain',
  describe: 'Say in plain words why a call was allowed, filtered or denied, and what would change it',
  builder: (y) =>
    y
      .option('audit-log', { type: 'string', demandOption: true, describe: 'the audit log `mcpg run --audit-log` wrote' })
      .option('id', { type: 'number', describe: 'the call to explain (default: the last one)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the explanation as JSON' }),
  handler: (args) => {
    let text: string;
    try {
      // As long as a string may be: explain reads the log whole.
      text = readUserFile(args['audit-log'], 512 * 1024 * 1024).toString('utf8');
    } catch (err) {
      throw new McpgError('FILE_ACCESS', `cannot read the audit log ${args['audit-log']}: ${fsReason(err)}`);
    }
    const lines = text
      .split('\n')
      .filter((l) => l.trim())
      .map((l, i) => {
        let value: unknown;
        try {
          value = JSON.parse(l);
        } catch {
          throw new McpgError('USAGE', `${args['audit-log']}: line ${i + 1} is not JSON`);
        }
        const parsed = auditLine.safeParse(value);
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          throw new McpgError('USAGE', `${args['audit-log']}: line ${i + 1} is not an audit line (${issue.path.join('.') || 'the line'}: ${issue.message})`);
        }
        return parsed.data as unknown as AuditRecord;
      });
    const e = explain(lines, args.id);
    out(args.json ? JSON.stringify(e, null, 2) : words(e));
  },
};
