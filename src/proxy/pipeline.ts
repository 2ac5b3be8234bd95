import type { Mode } from '../config/schema.ts';
import { decideAfter, decideBefore } from '../difc/decide.ts';
import { type AgentState, type Violation, describe } from '../difc/evaluator.ts';
import { format } from '../difc/labels.ts';
import { ResponseShapeError, split } from '../difc/response.ts';
import type { BackendCall, Guard, ResourceAnswer } from '../guard/guard.ts';
import { McpgError, errorMessage } from '../shared/errors.ts';
import { logger } from '../shared/log.ts';
import type { AuditLog, AuditRecord } from './audit.ts';
import type { Backend } from './backend.ts';
import type { HostTool, HostTools } from './host-tools.ts';

/** A server as the pipeline sees it: where calls go, who labels them, and in which mode. */
export interface Route {
  backend: Backend;
  guard: Guard;
  mode: Mode;
  /** Tools the guard's backend calls that mcpg answers itself (host-tools.ts). */
  hostTools?: { names: readonly string[]; tools: HostTools };
  /** A forbidden write: denied, or put to the human (`on_violation = "ask"`). */
  onViolation?: 'deny' | 'ask';
}

/** The human's answer to "allow this one forbidden write?", through the agent's client. */
export type Answer = 'allow' | 'deny' | 'timeout' | 'unsupported';
export type Ask = (message: string) => Promise<Answer>;

export interface Call {
  route: Route;
  /** The MCP method (`tools/call`, `prompts/get`, `resources/read`). */
  method: string;
  /** The name the guard sees: the backend's own tool name, or the method for prompts and resources. */
  tool: string;
  args: Record<string, unknown>;
  /** Something the audit line should say even when the call is allowed (a pin warning). */
  note?: string;
  forward: () => Promise<Record<string, unknown>>;
}

/** A result for the agent, or an error message that names the server and the reason. */
export type Outcome = { result: Record<string, unknown>; error?: undefined } | { error: string };

const log = logger('pipeline');

/**
 * label resource -> decide -> audit -> forward -> label response -> decide/filter -> audit.
 * Nothing reaches a backend before its audit line is written: a call that cannot be audited is
 * denied. A call that was forwarded gets a second line for its response; a result that cannot
 * be audited is withheld.
 */
export class Pipeline {
  readonly agent: AgentState;
  readonly audit?: AuditLog;
  readonly #ask?: Ask;
  #calls = 0;
  constructor(agent: AgentState, audit?: AuditLog, ask?: Ask) {
    this.agent = agent;
    this.audit = audit;
    this.#ask = ask;
  }

  async run(call: Call): Promise<Outcome> {
    const { route, tool, args } = call;
    const server = route.backend.name;
    const record: AuditRecord = {
      time: '',
      id: ++this.#calls,
      stage: 'request',
      server,
      guard: route.guard.name,
      mode: route.mode,
      method: call.method,
      tool,
      operation: null,
      resource: null,
      agent_before: this.agent.labels,
      agent_after: this.agent.labels,
      decision: 'allow',
      violations: [],
      items: null,
      backend_calls: [],
      reason: call.note ?? null,
      approval: null,
    };
    /** Writes the record; an outcome that cannot be audited becomes a denial. */
    const audited = (outcome: Outcome): Outcome => {
      record.agent_after = this.agent.labels;
      const failure = this.audit?.write(record);
      if (!failure) return outcome;
      log.error(`server "${server}": ${failure}`);
      return { error: `mcpg denied "${tool}" on server "${server}": ${failure}` };
    };
    const deny = (violations: Violation[], operation: string): Outcome => {
      record.decision = 'deny';
      record.violations = violations;
      record.reason = describe(violations);
      return audited({
        error:
          `mcpg denied ${operation} of "${tool}" on server "${server}": ${record.reason}. ` +
          `Agent labels: ${this.agent}.`,
      });
    };
    const fail = (stage: string, err: unknown): Outcome => {
      record.decision = 'error';
      // Guard errors name the guard and the function already.
      record.reason = err instanceof McpgError ? err.message : `${stage}: ${errorMessage(err)}`;
      log.warn(`server "${server}": ${record.reason}`);
      return audited({ error: `mcpg denied "${tool}" on server "${server}": ${record.reason}` });
    };
    const backend: BackendCall = Object.assign(
      async (name: string, callArgs: Record<string, unknown>, signal?: AbortSignal) => {
        log.debug(`guard "${route.guard.name}" calls ${server}.${name}`);
        try {
          const host = route.hostTools?.names.includes(name) ? route.hostTools.tools : undefined;
          const r = host ? await host.call(name as HostTool, callArgs) : await route.backend.request('tools/call', { name, arguments: callArgs }, { signal });
          record.backend_calls.push({ tool: name, ok: true });
          return r;
        } catch (err) {
          record.backend_calls.push({ tool: name, ok: false });
          throw err;
        }
      },
      { refused: (name: string, why: string) => void record.backend_calls.push({ tool: name, ok: false, refused: why }) },
    );

    let answer: ResourceAnswer;
    try {
      answer = await route.guard.labelResource(tool, args, backend);
    } catch (err) {
      return fail(`guard "${route.guard.name}" failed in label_resource`, err);
    }
    record.operation = answer.operation;
    record.resource = answer.resource;
    let before = decideBefore(route.mode, this.agent.labels, answer.resource, answer.operation);
    if (before.deny) {
      // Only a write can be put to the human; the agent's labels stay as they are either way.
      const writes = before.deny.some((v) => v.rule.startsWith('write'));
      if (route.onViolation !== 'ask' || !writes || !this.#ask) return deny(before.deny, answer.operation);
      const shown =
        `The agent wants to call "${tool}" on server "${server}" (a ${answer.operation}). mcpg's information-flow policy ` +
        `forbids it: ${describe(before.deny)}. The agent's labels: ${this.agent}. Allow this one call?`;
      const reply = await this.#ask(shown);
      record.approval = { answer: reply, by: 'client', time: new Date().toISOString(), shown };
      if (reply !== 'allow') return deny(before.deny, answer.operation);
      record.violations = before.deny;
      record.reason = `allowed once by the human: ${describe(before.deny)}`;
      before = { checkResponse: answer.operation !== 'write' };
    }
    const gate = audited({ result: {} });
    if (gate.error !== undefined) return gate;

    // The response line repeats the request's fields, so each line reads on its own.
    record.stage = 'response';
    let result: Record<string, unknown>;
    try {
      result = await call.forward();
    } catch (err) {
      record.decision = 'error';
      record.reason = errorMessage(err);
      audited({ error: record.reason });
      throw err;
    }
    if (!before.checkResponse) return audited({ result });

    let after;
    try {
      const labeling = await route.guard.labelResponse(tool, args, result, backend);
      after = decideAfter(route.mode, this.agent, result, split(result, answer.resource, labeling));
    } catch (err) {
      const stage = err instanceof ResponseShapeError ? 'malformed response labels' : 'label_response';
      return fail(`guard "${route.guard.name}" failed in ${stage}`, err);
    }
    if (after.deny) return deny(after.deny, answer.operation);
    record.items = { total: after.total, withheld: after.withheld };
    if (after.withheld) {
      record.decision = 'filter';
      record.violations = after.violations;
      record.reason = `${after.withheld} of ${after.total} items withheld`;
    }
    if (after.absorbed) log.debug(`agent labels now ${format(after.absorbed)}`);
    return audited({ result: after.result });
  }
}
