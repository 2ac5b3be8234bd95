import { randomUUID } from 'node:crypto';
import { Cancellation } from '../shared/cancel.ts';
import { LocalError, type Params, RPC, type RequestContext, RpcError } from './router.ts';

/** Questions one request may have open at once, and how long a request may wait for its next try. */
const MAX_QUESTIONS = 16;
const ROUNDS_TTL_MS = 10 * 60_000;
/** How often a task's agent is told to ask how it goes. */
const POLL_INTERVAL_MS = 500;

/** The tasks extension of MCP 2026-07-28 (SEP-2663): a long call answered later, by tasks/get. */
export const TASKS = 'io.modelcontextprotocol/tasks';

/** A 2026 request's client capabilities take tasks (they declare the extension). */
export function takesTasks(capabilities: Params): boolean {
  const extensions = capabilities.extensions;
  return typeof extensions === 'object' && extensions !== null && (extensions as Params)[TASKS] !== undefined;
}

interface Question {
  method: string;
  params: Params;
  resolve(answer: unknown): void;
  reject(error: Error): void;
}

/**
 * A 2026 agent's request across its rounds. The request's work (the call through the choke
 * point, which may need the agent's answers: a server's sampling or elicitation, the human's
 * approval) runs once, from the first try. Each try is answered when the work ends (its result)
 * or when it has questions: `input_required` with them and mcpg's sealed `requestState`. The
 * agent's next try brings `inputResponses`; the work goes on with them.
 *
 * When the agent takes tasks and the server made the call a task, the request becomes mcpg's
 * task: the try is answered with the task, and the agent follows it with tasks/get (its status,
 * its questions, its result once done), answers with tasks/update and stops it with
 * tasks/cancel. The task's id is this request's nonce; what it shows is only what the work
 * hands back, after the choke point.
 */
export class Rounds {
  readonly nonce = randomUUID();
  /** Whose request it is. */
  readonly agent: string;
  /** What the request was: a retry must name the same. */
  readonly what: string;
  /** The agent takes tasks (it declared the extension on this request). */
  readonly tasks: boolean;
  /** The least severe log lines of its servers the agent asked to hear during this request, if any. */
  readonly logLevel?: string;
  /** The context the work runs in: its own id and cancellation, progress to the agent's latest try. */
  readonly context: RequestContext;
  readonly #cancelled = new Cancellation();
  readonly #questions = new Map<string, Question>();
  #timer: NodeJS.Timeout;
  readonly #onend: () => void;
  #asked = 0;
  #settled?: { result: unknown } | { error: unknown };
  #wake?: () => void;
  /** A try is waiting for the work's next step. */
  #waiting = false;
  #current: RequestContext;
  /** The server made the work a task: a try of an agent that takes tasks is answered with mcpg's. */
  #taskable = false;
  /** Once the agent was given the task: when, and when it last changed. */
  #task?: { createdAt: string; updatedAt: string; cancelled: boolean };

  constructor(agent: string, what: string, first: RequestContext, run: (context: RequestContext) => Promise<unknown>, onend: () => void, options: { tasks?: boolean; logLevel?: string } = {}) {
    this.agent = agent;
    this.what = what;
    this.tasks = options.tasks ?? false;
    this.logLevel = options.logLevel;
    this.#current = first;
    this.#onend = onend;
    this.context = {
      id: `rounds-${this.nonce}`,
      cancel: this.#cancelled,
      progressToken: first.progressToken,
      sendProgress: (p) => this.#current.sendProgress(p),
    };
    this.#timer = this.#expiry('no try came within 10 minutes');
    this.#follow(first);
    // The work starts once the request is registered (its caller's next step), so it can find it.
    Promise.resolve()
      .then(() => run(this.context))
      .then(
        (result) => this.#settle({ result }),
        (error: unknown) => this.#settle({ error }),
      );
  }

  #expiry(why: string): NodeJS.Timeout {
    return setTimeout(() => this.end(why), ROUNDS_TTL_MS).unref();
  }

  /** A try of the agent's: cancelling it ends the request (a task lives on its own). */
  #follow(attempt: RequestContext): void {
    this.#current = attempt;
    attempt.cancel.onCancel(() => this.#task || this.end('the agent cancelled it'));
  }

  #settle(outcome: { result: unknown } | { error: unknown }): void {
    this.#settled = outcome;
    this.#changed();
    this.#wake?.();
  }

  #changed(): void {
    if (this.#task) this.#task.updatedAt = new Date().toISOString();
  }

  /** The server made the work a task (mcpg follows it to its end, whoever waits). */
  becameTask(): void {
    this.#taskable = true;
    this.#wake?.();
  }

  /** A question for the agent, answered on its next try (or by tasks/update); the server's key is kept when free. */
  ask(method: string, params: Params, key?: string): Promise<unknown> {
    if (this.#cancelled.cancelled) return Promise.reject(new LocalError(RPC.requestTimeout, 'cancelled'));
    if (this.#questions.size >= MAX_QUESTIONS) return Promise.reject(new LocalError(RPC.invalidRequest, `more than ${MAX_QUESTIONS} questions open for one request`));
    const named = key !== undefined && key.length <= 128 && !this.#questions.has(key) ? key : `${method.split('/')[0]}-${++this.#asked}`;
    const answered = new Promise<unknown>((resolve, reject) => this.#questions.set(named, { method, params, resolve, reject }));
    this.#changed();
    this.#wake?.();
    return answered;
  }

  /** The agent's next try (or tasks/update): its answers go to the questions they name; unanswered ones are asked again. */
  retry(attempt: RequestContext | undefined, responses: unknown): void {
    if (attempt) this.#follow(attempt);
    if (typeof responses !== 'object' || responses === null) return;
    for (const [key, answer] of Object.entries(responses)) {
      const q = this.#questions.get(key);
      if (!q || answer === undefined) continue;
      this.#questions.delete(key);
      this.#changed();
      q.resolve(answer);
    }
  }

  /** This try's answer: the work's outcome when it has one, else the open questions, else (agent and server taking tasks) the task. */
  async next(requestState: string): Promise<unknown> {
    if (this.#waiting) throw new LocalError(RPC.invalidRequest, 'another try of this request is already waiting for its answer');
    this.#waiting = true;
    const becomesTask = () => this.tasks && this.#taskable;
    try {
      while (!this.#settled && this.#questions.size === 0 && !becomesTask()) await new Promise<void>((resolve) => (this.#wake = resolve));
    } finally {
      this.#waiting = false;
      this.#wake = undefined;
    }
    const settled = this.#settled;
    if (settled) {
      this.end();
      if ('error' in settled) throw settled.error;
      return settled.result;
    }
    if (this.#questions.size === 0) {
      const now = new Date().toISOString();
      this.#task = { createdAt: now, updatedAt: now, cancelled: false };
      this.touch();
      return { resultType: 'task', status: 'working', ...this.#taskFields() };
    }
    return { resultType: 'input_required', inputRequests: this.#inputRequests(), requestState };
  }

  /** The request waits for the agent: its answers to questions, or its asking after its task. */
  get waitsForAgent(): boolean {
    return this.#questions.size > 0 || this.#task !== undefined;
  }

  /** This request is the agent's task now (tasks/get, tasks/update and tasks/cancel reach it). */
  get isTask(): boolean {
    return this.#task !== undefined;
  }

  /** The agent asked after its task: it is kept for another while. */
  touch(): void {
    clearTimeout(this.#timer);
    this.#timer = this.#expiry('its agent did not ask after it for 10 minutes');
  }

  #taskFields(): Params {
    const task = this.#task!;
    return { taskId: this.nonce, createdAt: task.createdAt, lastUpdatedAt: task.updatedAt, ttlMs: ROUNDS_TTL_MS, pollIntervalMs: POLL_INTERVAL_MS };
  }

  #inputRequests(): Params {
    return Object.fromEntries([...this.#questions].map(([key, q]) => [key, { method: q.method, params: q.params }]));
  }

  /**
   * The task as tasks/get shows it: its status; its open questions; once done, the result the
   * work handed back (through the choke point) or the error it ended with.
   */
  detail(): Params {
    const fields = this.#taskFields();
    const settled = this.#settled;
    if (this.#task!.cancelled) return { ...fields, status: 'cancelled' };
    if (!settled) return this.#questions.size ? { ...fields, status: 'input_required', inputRequests: this.#inputRequests() } : { ...fields, status: 'working' };
    if ('result' in settled) return { ...fields, status: 'completed', result: settled.result };
    const err = settled.error;
    const error = err instanceof RpcError ? { code: err.code, message: err.message, ...(err.data !== undefined && { data: err.data }) } : { code: RPC.internalError, message: 'the call failed' };
    return { ...fields, status: 'failed', error };
  }

  /** tasks/cancel: the work stops (the server's task with it); a finished task stays as it ended. */
  cancel(): void {
    if (this.#settled || this.#task!.cancelled) return;
    this.#task!.cancelled = true;
    this.#changed();
    this.#cancelled.cancel('the agent cancelled the task');
    for (const q of this.#questions.values()) q.reject(new LocalError(RPC.requestTimeout, 'the agent cancelled the task'));
    this.#questions.clear();
  }

  /** Ends the request: its work is cancelled, its open questions fail. */
  end(why?: string): void {
    clearTimeout(this.#timer);
    this.#onend();
    if (why && !this.#settled) this.#cancelled.cancel(why);
    for (const q of this.#questions.values()) q.reject(new LocalError(RPC.requestTimeout, why ?? 'the request ended'));
    this.#questions.clear();
  }
}
