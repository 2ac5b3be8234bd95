import { randomUUID } from 'node:crypto';
import { LocalError, type Params, RPC, type RequestContext } from './router.ts';

/** Questions one request may have open at once, and how long a request may wait for its next try. */
const MAX_QUESTIONS = 16;
const ROUNDS_TTL_MS = 10 * 60_000;

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
 */
export class Rounds {
  readonly nonce = randomUUID();
  /** Whose request it is. */
  readonly agent: string;
  /** What the request was: a retry must name the same. */
  readonly what: string;
  /** The context the work runs in: its own id and signal, progress to the agent's latest try. */
  readonly context: RequestContext;
  readonly #controller = new AbortController();
  readonly #questions = new Map<string, Question>();
  readonly #timer: NodeJS.Timeout;
  readonly #onend: () => void;
  #asked = 0;
  #settled?: { result: unknown } | { error: unknown };
  #wake?: () => void;
  /** A try is waiting for the work's next step. */
  #waiting = false;
  #current: RequestContext;

  constructor(agent: string, what: string, first: RequestContext, run: (context: RequestContext) => Promise<unknown>, onend: () => void) {
    this.agent = agent;
    this.what = what;
    this.#current = first;
    this.#onend = onend;
    this.context = {
      id: `rounds-${this.nonce}`,
      signal: this.#controller.signal,
      progressToken: first.progressToken,
      sendProgress: (p) => this.#current.sendProgress(p),
    };
    this.#timer = setTimeout(() => this.end('no try came within 10 minutes'), ROUNDS_TTL_MS).unref();
    this.#follow(first);
    run(this.context).then(
      (result) => this.#settle({ result }),
      (error: unknown) => this.#settle({ error }),
    );
  }

  /** A try of the agent's: cancelling it ends the request. */
  #follow(attempt: RequestContext): void {
    this.#current = attempt;
    attempt.signal.addEventListener('abort', () => this.end('the agent cancelled it'), { once: true });
  }

  #settle(outcome: { result: unknown } | { error: unknown }): void {
    this.#settled = outcome;
    this.#wake?.();
  }

  /** A question for the agent, answered on its next try. */
  ask(method: string, params: Params): Promise<unknown> {
    if (this.#controller.signal.aborted) return Promise.reject(new LocalError(RPC.requestTimeout, 'cancelled'));
    if (this.#questions.size >= MAX_QUESTIONS) return Promise.reject(new LocalError(RPC.invalidRequest, `more than ${MAX_QUESTIONS} questions open for one request`));
    const key = `${method.split('/')[0]}-${++this.#asked}`;
    const answered = new Promise<unknown>((resolve, reject) => this.#questions.set(key, { method, params, resolve, reject }));
    this.#wake?.();
    return answered;
  }

  /** The agent's next try: its answers go to the questions they name; unanswered ones are asked again. */
  retry(attempt: RequestContext, responses: unknown): void {
    this.#follow(attempt);
    if (typeof responses !== 'object' || responses === null) return;
    for (const [key, answer] of Object.entries(responses)) {
      const q = this.#questions.get(key);
      if (!q || answer === undefined) continue;
      this.#questions.delete(key);
      q.resolve(answer);
    }
  }

  /** This try's answer: the work's outcome when it has one, else the open questions. */
  async next(requestState: string): Promise<unknown> {
    if (this.#waiting) throw new LocalError(RPC.invalidRequest, 'another try of this request is already waiting for its answer');
    this.#waiting = true;
    try {
      while (!this.#settled && this.#questions.size === 0) await new Promise<void>((resolve) => (this.#wake = resolve));
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
    const inputRequests = Object.fromEntries([...this.#questions].map(([key, q]) => [key, { method: q.method, params: q.params }]));
    return { resultType: 'input_required', inputRequests, requestState };
  }

  /** Ends the request: its work is cancelled, its open questions fail. */
  end(why?: string): void {
    clearTimeout(this.#timer);
    this.#onend();
    if (why && !this.#settled) this.#controller.abort(why);
    for (const q of this.#questions.values()) q.reject(new LocalError(RPC.requestTimeout, why ?? 'the request ended'));
    this.#questions.clear();
  }
}
