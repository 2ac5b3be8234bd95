import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { type Cancel, Cancellation } from '../shared/cancel.ts';

/**
 * JSON-RPC over one transport, in both directions: the one owner of the transport's callbacks.
 * Every message is dispatched by kind — request, response, notification — in the spirit of the
 * MCP SDK's Protocol, but without its per-message schema parsing (mcpg checks what it uses of a
 * message where it uses it, and forwards the rest untouched). The gateway has one router facing
 * the agent and one per backend.
 */

export type Id = string | number;
export type Params = Record<string, unknown>;
/** A JSON object (not null, not an array): what params, results and most of their fields must be. */
export const isObject = (v: unknown): v is Params => typeof v === 'object' && v !== null && !Array.isArray(v);
export interface Progress {
  progress: number;
  total?: number;
  message?: string;
}

/** JSON-RPC error codes mcpg answers with. */
export const RPC = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  connectionClosed: -32000,
  requestTimeout: -32001,
} as const;

/** An error that crosses the wire: its message is sent as it is (the peer adds its own prefix). */
export class RpcError extends Error {
  readonly code: number;
  readonly data?: unknown;
  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

/**
 * What the router itself concluded about a request of ours (the connection closed, no answer in
 * time, cancelled, an answer too large): never the peer's words. A peer's own error with the same
 * code is an RpcError, and is the peer's data.
 */
export class LocalError extends RpcError {}

export interface RequestContext {
  /** The request's id on this connection. */
  id: Id;
  /** Cancelled when the peer cancels the request or the connection closes. */
  cancel: Cancel;
  progressToken?: Id;
  /** Sends progress for this request (nothing when the peer asked for none). */
  sendProgress(progress: Progress): Promise<void>;
}

export type RequestHandler = (params: Params, context: RequestContext) => Promise<unknown>;
export type NotificationHandler = (params: Params) => void;

export interface RequestOptions {
  cancel?: Cancel;
  /** Without a message in between (progress re-arms it). */
  timeoutMs: number;
  /** In all: progress cannot extend it. */
  maxTotalMs?: number;
  onprogress?: (progress: Progress) => void;
  /**
   * The peer's request this one is made for (a server's sampling during the agent's call): an
   * HTTP transport sends it on that request's stream.
   */
  relatedRequestId?: Id;
}

/**
 * A request of ours waiting for its answer. Its deadlines are times (performance.now()), kept
 * by the router's one timer (`#watch`): no timer is made or cleared per request.
 */
class Pending {
  /** Without a message in between: progress moves it. */
  idleBy: number;
  /** In all (Infinity without maxTotalMs). */
  readonly totalBy: number;
  stopListening?: () => void;
  readonly method: string;
  readonly options: RequestOptions;
  readonly resolve: (result: Params) => void;
  readonly reject: (error: Error) => void;
  constructor(method: string, options: RequestOptions, resolve: (result: Params) => void, reject: (error: Error) => void, now: number) {
    this.method = method;
    this.options = options;
    this.resolve = resolve;
    this.reject = reject;
    this.idleBy = now + options.timeoutMs;
    this.totalBy = options.maxTotalMs === undefined ? Infinity : now + options.maxTotalMs;
  }

  get deadline(): number {
    return this.idleBy < this.totalBy ? this.idleBy : this.totalBy;
  }
}

type Message = {
  jsonrpc?: unknown;
  id?: unknown;
  method?: unknown;
  params?: unknown;
  result?: unknown;
  error?: unknown;
};

/** What a request of the peer's is answered with. */
type Answer = { result: unknown } | { error: { code: number; message: string; data?: unknown } };

const isId = (id: unknown): id is Id => typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));

export class Router {
  readonly #transport: Transport;
  readonly #name: string;
  readonly #requests = new Map<string, RequestHandler>();
  readonly #notifications = new Map<string, NotificationHandler>();
  readonly #pending = new Map<string, Pending>();
  /** The one timer for every pending request's deadlines, and when it fires. */
  #timer?: NodeJS.Timeout;
  #timerAt = Infinity;
  readonly #inFlight = new Map<Id, Cancellation>();
  readonly #idPrefix: string;
  #next = 0;
  #closed = false;
  /** Called once when the connection ends, after every pending request has failed. */
  onclose?: () => void;
  /** Messages the router cannot use (logged by the owner; answered when they carry an id). */
  onproblem?: (problem: string) => void;

  /** `name` says who the peer is in errors ("server \"x\"", "the agent"). */
  constructor(transport: Transport, name: string, idPrefix = 'mcpg-') {
    this.#transport = transport;
    this.#name = name;
    this.#idPrefix = idPrefix;
    transport.onmessage = (m) => this.#receive(m as Message);
    transport.onclose = () => this.#closedByPeer();
    transport.onerror = (err) => this.onproblem?.(err.message);
  }

  onRequest(method: string, handler: RequestHandler): void {
    this.#requests.set(method, handler);
  }

  onNotification(method: string, handler: NotificationHandler): void {
    this.#notifications.set(method, handler);
  }

  start(): Promise<void> {
    return this.#transport.start();
  }

  async close(): Promise<void> {
    await this.#transport.close();
    this.#closedByPeer();
  }

  /** A notification; `related` ties it to a request of the peer's (progress), for HTTP transports. */
  notify(method: string, params?: Params, related?: Id): Promise<void> {
    return this.#send({ jsonrpc: '2.0', method, ...(params && { params }) }, related);
  }

  /** Sends a request; settles exactly once: its answer, a timeout, a cancellation, or the close. */
  request(method: string, params: Params | undefined, options: RequestOptions): Promise<Params> {
    if (this.#closed) return Promise.reject(new LocalError(RPC.connectionClosed, `${this.#name} is not connected`));
    const { cancel } = options;
    if (cancel?.cancelled) return Promise.reject(new LocalError(RPC.requestTimeout, 'cancelled'));
    const id = `${this.#idPrefix}${++this.#next}`;
    const withToken = options.onprogress ? { ...params, _meta: { ...(params?._meta as object | undefined), progressToken: id } } : params;
    return new Promise((resolve, reject) => {
      const pending = new Pending(method, options, resolve, reject, performance.now());
      this.#pending.set(id, pending);
      if (cancel) pending.stopListening = cancel.onCancel((reason) => this.#giveUp(id, String(reason ?? 'cancelled'), new LocalError(RPC.requestTimeout, 'cancelled')));
      this.#watch(pending.deadline);
      const message: Record<string, unknown> = { jsonrpc: '2.0', id, method };
      if (withToken) message.params = withToken;
      // A request that could not be sent is not the peer's to cancel: it only fails here.
      this.#send(message, options.relatedRequestId).catch((err: Error) => this.#settled(id)?.reject(err));
    });
  }

  /** The pending request, no longer pending (undefined when it already settled). */
  #settled(id: string): Pending | undefined {
    const pending = this.#pending.get(id);
    if (!pending) return undefined;
    this.#pending.delete(id);
    pending.stopListening?.();
    return pending;
  }

  /** A request we stop waiting for (its deadline, its cancellation): the peer is told. */
  #giveUp(id: string, reason: string, error: Error): void {
    const pending = this.#settled(id);
    if (!pending) return;
    void this.notify('notifications/cancelled', { requestId: id, reason }).catch(() => {});
    pending.reject(error);
  }

  /**
   * The timer fires by `at` (or earlier, for an earlier deadline it already has). It stays set
   * when the last request settles, to fire, find none and stop: for one request at a time
   * (an agent's sequential calls), setting and clearing it around each cost about 5% of the
   * gateway's CPU a call. It does not hold the process open (the answer a request waits for
   * comes over a connection, which does).
   */
  #watch(at: number): void {
    if (at >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(this.#deadlines, Math.max(0, at - performance.now())).unref();
  }

  #unwatch(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  /**
   * The timer fired: the requests past a deadline end, earliest first; it is set again for the
   * next. Progress moved idle deadlines without touching the timer: a request whose deadline
   * moved is only looked at again. Within a millisecond counts as past (timers fire on whole ms).
   */
  #deadlines = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = performance.now();
    const due: [string, Pending][] = [];
    let next = Infinity;
    for (const entry of this.#pending) {
      const deadline = entry[1].deadline;
      if (deadline <= now + 1) due.push(entry);
      else if (deadline < next) next = deadline;
    }
    due.sort((a, b) => a[1].deadline - b[1].deadline);
    for (const [id, p] of due) {
      const { method, options } = p;
      const error =
        p.totalBy <= p.idleBy
          ? new LocalError(RPC.requestTimeout, `${this.#name} did not finish ${method} within ${options.maxTotalMs! / 1000}s in all`)
          : new LocalError(RPC.requestTimeout, `${this.#name} did not answer ${method} within ${options.timeoutMs / 1000}s`);
      this.#giveUp(id, 'timeout', error);
    }
    if (next < Infinity) this.#watch(next);
  };

  #send(message: Record<string, unknown>, related?: Id): Promise<void> {
    if (this.#closed) return Promise.reject(new LocalError(RPC.connectionClosed, `${this.#name} is not connected`));
    return this.#transport.send(message as JSONRPCMessage, related === undefined ? undefined : { relatedRequestId: related });
  }

  #answer(id: Id | null, body: Answer): void {
    void this.#send({ jsonrpc: '2.0', id, ...body }).catch(() => {});
  }

  #receive(m: Message): void {
    if (typeof m !== 'object' || m === null || Array.isArray(m) || m.jsonrpc !== '2.0') return this.#invalid(m, 'not a JSON-RPC 2.0 message');
    if (typeof m.method === 'string') {
      if (m.params !== undefined && (typeof m.params !== 'object' || m.params === null)) return this.#invalid(m, 'params must be an object');
      if (m.id === undefined) return this.#notification(m.method, (m.params ?? {}) as Params);
      if (!isId(m.id)) return this.#invalid(m, 'id must be a string or a number');
      return this.#request(m.id, m.method, (m.params ?? {}) as Params);
    }
    if ('method' in m) return this.#invalid(m, 'method must be a string');
    if (!isId(m.id)) return this.#invalid(m, 'a response needs the id of its request');
    const pending = this.#settled(String(m.id));
    if (!pending) return this.onproblem?.(`${this.#name} answered unknown request ${JSON.stringify(m.id)}`);
    const error = m.error as { code?: unknown; message?: unknown; data?: unknown } | undefined;
    if (error && typeof error === 'object') {
      pending.reject(new RpcError(typeof error.code === 'number' ? error.code : RPC.internalError, String(error.message ?? 'error'), error.data));
    } else if (typeof m.result === 'object' && m.result !== null && !Array.isArray(m.result)) pending.resolve(m.result as Params);
    else pending.reject(new LocalError(RPC.internalError, `${this.#name} answered with a result that is not an object`));
  }

  /** Bad input with an id gets an error answer; without one, id null (JSON-RPC 2.0, section 5). */
  #invalid(m: Message, why: string): void {
    this.onproblem?.(`${this.#name} sent an invalid message: ${why}`);
    const object = typeof m === 'object' && m !== null;
    if (object && ('result' in m || 'error' in m)) return; // a bad response is not answered
    this.#answer(object && isId(m.id) ? m.id : null, { error: { code: RPC.invalidRequest, message: `Invalid Request: ${why}` } });
  }

  #request(id: Id, method: string, params: Params): void {
    if (method.startsWith('notifications/')) {
      return this.#answer(id, { error: { code: RPC.invalidRequest, message: `Invalid Request: ${method} is a notification and takes no id` } });
    }
    // JSON-RPC: ids SHOULD NOT be fractional. Answered (so nobody waits) but refused.
    if (typeof id === 'number' && !Number.isInteger(id)) {
      return this.#answer(id, { error: { code: RPC.invalidRequest, message: 'Invalid Request: a numeric id must be an integer' } });
    }
    const handler = this.#requests.get(method);
    if (!handler) return this.#answer(id, { error: { code: RPC.methodNotFound, message: `Method not found: ${method}` } });
    if (this.#inFlight.has(id)) {
      return this.#answer(id, { error: { code: RPC.invalidRequest, message: `Invalid Request: id ${JSON.stringify(id)} is already in use` } });
    }
    const cancelled = new Cancellation();
    this.#inFlight.set(id, cancelled);
    const token = (params._meta as { progressToken?: unknown } | undefined)?.progressToken;
    const progressToken = isId(token) ? token : undefined;
    const context: RequestContext = {
      id,
      cancel: cancelled,
      progressToken,
      sendProgress: (p) => (progressToken === undefined ? Promise.resolve() : this.notify('notifications/progress', { ...p, progressToken }, id)),
    };
    const answer = (body: Answer) => {
      this.#inFlight.delete(id);
      // MCP: a request the peer cancelled is not answered.
      if (!cancelled.cancelled) this.#answer(id, body);
    };
    // A handler that throws instead of rejecting costs its request, not the connection.
    let handled: Promise<unknown>;
    try {
      handled = handler(params, context);
    } catch (err) {
      handled = Promise.reject(err);
    }
    handled.then(
      (result) => answer({ result }),
      (err: unknown) =>
        answer({
          error: err instanceof RpcError ? { code: err.code, message: err.message, ...(err.data !== undefined && { data: err.data }) } : { code: RPC.internalError, message: err instanceof Error ? err.message : String(err) },
        }),
    );
  }

  #notification(method: string, params: Params): void {
    if (method === 'notifications/cancelled') {
      const id = params.requestId;
      if (isId(id)) this.#inFlight.get(id)?.cancel(params.reason ?? 'cancelled');
      return;
    }
    if (method === 'notifications/progress') {
      const token = params.progressToken;
      const pending = isId(token) ? this.#pending.get(String(token)) : undefined;
      const onprogress = pending?.options.onprogress;
      if (onprogress) {
        // Progress shows the call is alive: it moves the idle deadline, never the total one.
        pending!.idleBy = performance.now() + pending!.options.timeoutMs;
        return onprogress(params as unknown as Progress);
      }
    }
    this.#notifications.get(method)?.(params);
  }

  /**
   * A message too large to read: the request of ours it answers fails, naming the peer; a
   * request of the peer's is refused. `id` is what could be read of it.
   */
  oversize(id: Id | undefined, limit: string): void {
    const pending = id !== undefined ? this.#settled(String(id)) : undefined;
    if (pending) return pending.reject(new LocalError(RPC.internalError, `${this.#name} answered with a message larger than ${limit}; it was discarded`));
    this.onproblem?.(`${this.#name} sent a message larger than ${limit}; it was discarded`);
    if (id !== undefined) this.#answer(id, { error: { code: RPC.invalidRequest, message: `messages larger than ${limit} are refused` } });
  }

  #closedByPeer(): void {
    if (this.#closed) return;
    this.#closed = true;
    const error = new LocalError(RPC.connectionClosed, `${this.#name} closed the connection`);
    for (const id of [...this.#pending.keys()]) this.#settled(id)?.reject(error);
    this.#unwatch();
    for (const c of this.#inFlight.values()) c.cancel('connection closed');
    this.onclose?.();
  }
}
