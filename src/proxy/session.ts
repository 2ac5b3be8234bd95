import type { Readable, Writable } from 'node:stream';
import type { Context, Span } from '@opentelemetry/api';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { decideAfter, decideBefore, shownViolations } from '../difc/decide.ts';
import { type AgentState, type Violation, check, describe } from '../difc/evaluator.ts';
import type { Labels } from '../difc/labels.ts';
import { format } from '../difc/labels.ts';
import { type ResponseLabeling, ResponseShapeError, split } from '../difc/response.ts';
import type { BackendCall, ResourceAnswer } from '../guard/guard.ts';
import { McpgError, errorMessage } from '../shared/errors.ts';
import { logger } from '../shared/log.ts';
import { IMPLEMENTATION } from '../shared/version.ts';
import type { AuditRecord } from './audit.ts';
import { type Backend, type ListKind, SERVER_REQUESTS, type ServerRequest } from './backend.ts';
import { type Agent, Gateway, type GatewayOptions, type Route } from './gateway.ts';
import { SEPARATOR } from './catalog.ts';
import type { AgentPolicy } from './agent-policy.ts';
import type { HostTool } from './host-tools.ts';
import type { Awaitable } from '../shared/awaitable.ts';
import { type Cancel, Cancellation, pause } from '../shared/cancel.ts';
import { type Id, LocalError, type Params, type Progress, RPC, type RequestContext, type RequestHandler, Router, RpcError, isObject } from './router.ts';
import { offload } from './payloads.ts';
import { HANDSHAKE_VERSIONS, LATEST_HANDSHAKE, LOG_LEVEL_META, META, MISSING_CAPABILITY, MODERN, SUPPORTED_VERSIONS, UNSUPPORTED_VERSION, claimedCapabilities, claimedVersion, withoutEnvelope } from './protocol.ts';
import { Rounds, TASKS, takesTasks } from './rounds.ts';
import { LineTransport } from './stdio.ts';

/** What mcpg offers the agent: the aggregate of its servers, plus logging and completions. */
const CAPABILITIES = {
  tools: { listChanged: true },
  prompts: { listChanged: true },
  resources: { listChanged: true, subscribe: true },
  logging: {},
  completions: {},
};
/** A server request needs the agent's client to have declared this capability. */
const NEEDS: Record<ServerRequest, string> = { 'sampling/createMessage': 'sampling', 'elicitation/create': 'elicitation', 'roots/list': 'roots' };

const log = logger('session');
/** Requests of a 2026 agent's that may be waiting for its answers at once. */
const MAX_ROUNDS = 32;
/** URL-mode elicitations a session remembers at once; the oldest is forgotten first. */
const MAX_ELICITATIONS = 1000;
/** Resources one subscriptions/listen may ask to hear of. */
const MAX_WATCHED = 32;
/** Times a server may answer input_required to one request before mcpg stops asking. */
const MAX_SERVER_ROUNDS = 8;
/** The labeling of a response its guard labeled with the resource when it labeled the call. */
const WHOLE_RESPONSE: ResponseLabeling = { kind: 'whole' };

/** How a request is served: in rounds (it may need the agent's answers), and whether its result is marked not to be cached. */
type ServedAs = { rounds?: true; cached?: true };

/** One request of the agent's that carries a server's data back: it passes `#through`. */
interface Call {
  route: Route;
  /** The MCP method sent to the server. */
  method: string;
  /** The name the guard sees: the backend's own tool name, or the method for prompts and resources. */
  tool: string;
  /** What the guard labels: the tool's arguments, or the request's params. */
  args: Record<string, unknown>;
  /** What is sent to the server. */
  params: Params;
  context: RequestContext;
  /** Something the audit line should say even when the call is allowed (a pin warning). */
  note?: string;
  /** The call's span, when mcpg sends traces. */
  trace?: { span: Span; context: Context };
}

/**
 * What `#through` hands back: a result for the agent, mcpg's own refusal (a message naming the
 * server and the reason), or the server's JSON-RPC error, passed on because the agent may read it.
 */
type Outcome = { result: Params } | { refused: string } | { error: RpcError };

/** The human's answer to "allow this one forbidden write?", through the agent's client. */
type Answer = 'allow' | 'deny' | 'timeout' | 'unsupported';

/** Who is connected, and to what: an agent (by the name the config gives it), and one server (routed) or all. */
export interface SessionOptions {
  /** The authenticated agent: its labels are shared by all its sessions, and no one else's. */
  agent?: string;
  /** Routed (`/mcp/<server>`): only that server, under its own tool names. Unset: all, as `<server>___<tool>`. */
  server?: string;
  /** Calls this session may make in all ([gateway] max_calls_per_session). */
  maxCalls?: number;
}

/** A transport mcpg reads from: the SDK's Transport, and a report of messages too large to read. */
export type AgentTransport = Transport & { onoversize?: (id: Id | undefined, limit: string) => void };

/**
 * One agent's connection: the router facing it, its labels, and one method per MCP request.
 * Every byte a server sends toward this agent passes `#through` (results, errors, progress) or
 * `serverRequest` (the server's own requests, and the agent's answers going back), where the
 * server's guard has labeled it and the agent's labels decide: passed, withheld with a notice,
 * or refused. What cannot be labeled is withheld, never passed.
 */
export class Session implements Agent {
  readonly #gateway: Gateway;
  readonly #agent: Router;
  /** The agent's name (its labels are the gateway's for that name) and the server it is routed to. */
  readonly agentName: string;
  readonly #server?: string;
  readonly #maxCalls: number;
  /** What this agent may use ([gateway.agent_policies]). */
  readonly #policy: AgentPolicy;
  #callsMade = 0;
  /**
   * A 2026 agent's open `subscriptions/listen` requests and the list changes each asked for
   * (set once the agent speaks 2026: it then hears only what it asked for).
   */
  #listening?: Map<Id, { kinds: Set<ListKind>; resources: Set<string> }>;
  /** `server\nid` of the URL-mode elicitations this agent was shown (the most recent MAX_ELICITATIONS). */
  readonly #elicitations = new Set<string>();
  /** `server\nuri` of each resource this session subscribed to. */
  readonly #subscribed = new Set<string>();
  #capabilities: Params = {};
  /** The agent's labels and the routes, once the guards' label_agent has run. */
  #labeled?: Promise<{ routes: Map<string, Route>; agent: AgentState }>;
  #state?: { routes: Map<string, Route>; agent: AgentState };
  /** The agent's requests in flight, per server: that server's requests to its client come here, on their stream. */
  readonly #calls = new Map<string, Id[]>();
  readonly closed: Promise<void>;

  constructor(gateway: Gateway, transport: AgentTransport, options: SessionOptions = {}) {
    this.#gateway = gateway;
    this.agentName = options.agent ?? 'agent';
    this.#server = options.server;
    this.#maxCalls = options.maxCalls ?? Number.POSITIVE_INFINITY;
    this.#policy = gateway.policyOf(this.agentName);
    const agent = new Router(transport, `agent "${this.agentName}"`);
    this.#agent = agent;
    transport.onoversize = (id, limit) => agent.oversize(id, limit);
    agent.onproblem = (p) => log.warn(p);
    this.closed = new Promise((resolve) => {
      agent.onclose = () => {
        gateway.leave(this);
        resolve();
      };
    });
    /**
     * A request of either era: a 2026 one (its envelope in `_meta`) starts the gateway itself,
     * has its envelope taken off, runs in rounds when it may need the agent's answers, and its
     * result says its type (and, for lists and reads, that it is not to be cached: what mcpg
     * shows follows its servers and the agent's labels); an older client's waits for start-up
     * (clients should not send requests before initialize; those that do wait).
     */
    const served =
      (handler: RequestHandler, kind: ServedAs = {}): RequestHandler =>
      (params, context) => {
        const version = claimedVersion(params);
        // An older client's request: the handler's own promise, with no async function's around it.
        if (version === undefined) return gateway.ready ? handler(params, context) : gateway.started.then(() => handler(params, context));
        return servedModern(version, params, context, handler, kind);
      };
    const servedModern = async (version: string, params: Params, context: RequestContext, handler: RequestHandler, kind: ServedAs) => {
      await this.#modern(version, params);
      const plain = withoutEnvelope(params);
      const result = complete(await (kind.rounds ? this.#inRounds(plain, context, handler, { tasks: takesTasks(claimedCapabilities(params)), logLevel: askedLogLevel(params) }) : handler(plain, context)));
      return kind.cached && isObject(result) && result.resultType === 'complete' ? { ttlMs: 0, cacheScope: 'private', ...result } : result;
    };
    agent.onRequest('initialize', (params) => this.initialize(params));
    agent.onRequest('server/discover', async (params) => this.discover(params));
    agent.onRequest('ping', async () => ({}));
    agent.onRequest('tools/list', served(() => this.listTools(), { cached: true }));
    const { catalog } = gateway;
    const policy = this.#policy;
    agent.onRequest('prompts/list', served(async () => ({ prompts: this.#shown(catalog.prompts().filter((p) => policy.server(p.name.split(SEPARATOR)[0]!))) }), { cached: true }));
    agent.onRequest('resources/list', served(async () => ({ resources: catalog.resources(this.#server).filter((r) => policy.server(catalog.resource(r.uri)?.name ?? '')) }), { cached: true }));
    agent.onRequest('resources/templates/list', served(async () => ({ resourceTemplates: catalog.templates(this.#server).filter((t) => policy.server(catalog.template(t.uriTemplate)?.backend.name ?? '')) }), { cached: true }));
    agent.onRequest('tools/call', served((params, context) => this.callTool(params, context), { rounds: true }));
    agent.onRequest('prompts/get', served((params, context) => this.getPrompt(params, context), { rounds: true }));
    agent.onRequest('resources/read', served((params, context) => this.readResource(params, context), { rounds: true, cached: true }));
    agent.onRequest('completion/complete', served((params, context) => this.complete(params, context), { rounds: true }));
    agent.onRequest('resources/subscribe', served((params, context) => this.subscribe('resources/subscribe', params, context)));
    agent.onRequest('resources/unsubscribe', served((params, context) => this.subscribe('resources/unsubscribe', params, context)));
    agent.onRequest('logging/setLevel', served((params) => this.setLogLevel(params)));
    agent.onRequest('subscriptions/listen', served((params, context) => this.listen(params, context)));
    for (const method of ['tasks/get', 'tasks/update', 'tasks/cancel'] as const) agent.onRequest(method, (params) => this.task(method, params));
    agent.onNotification('notifications/roots/list_changed', () => {
      for (const b of gateway.backends) b.notify('notifications/roots/list_changed');
    });
    gateway.join(this);
  }

  start(): Promise<void> {
    return this.#agent.start();
  }

  close(): Promise<void> {
    return this.#agent.close().catch(() => {});
  }

  // ---- The agent's requests.

  async initialize(params: Params): Promise<Params> {
    this.#capabilities = (params.capabilities ?? {}) as Params;
    await this.#gateway.start(this.#capabilities).catch((err: unknown) => {
      throw new RpcError(RPC.internalError, `mcpg could not start: ${errorMessage(err)}`);
    });
    const asked = String(params.protocolVersion);
    return {
      protocolVersion: HANDSHAKE_VERSIONS.includes(asked) ? asked : LATEST_HANDSHAKE,
      capabilities: CAPABILITIES,
      serverInfo: IMPLEMENTATION,
    };
  }

  /**
   * What a 2026 client asks first: the versions, capabilities and name of this server. Like
   * initialize, the first one with an envelope starts the gateway with the client's capabilities.
   */
  async discover(params: Params): Promise<Params> {
    const version = claimedVersion(params);
    if (version !== undefined) await this.#modern(version, params);
    const found = { supportedVersions: SUPPORTED_VERSIONS, capabilities: CAPABILITIES, serverInfo: IMPLEMENTATION };
    if (version === undefined) return found;
    const modern = { ...found, capabilities: { ...CAPABILITIES, extensions: { [TASKS]: {} } } };
    return { ...(complete(modern) as Params), ttlMs: 0, cacheScope: 'private' };
  }

  /** A 2026 request: its capabilities are the agent's from now on; the first one starts the gateway. */
  async #modern(version: string, params: Params): Promise<void> {
    this.#listening ??= new Map();
    if (version !== MODERN) {
      throw new RpcError(UNSUPPORTED_VERSION, `mcpg does not speak MCP protocol version ${version}`, { supported: SUPPORTED_VERSIONS, requested: version });
    }
    this.#capabilities = claimedCapabilities(params);
    await this.#gateway.start(this.#capabilities).catch((err: unknown) => {
      throw new RpcError(RPC.internalError, `mcpg could not start: ${errorMessage(err)}`);
    });
  }

  /**
   * A 2026 agent's request that may need its answers: the first try starts the work, a try
   * with mcpg's `requestState` continues it with its `inputResponses` (see Rounds).
   */
  async #inRounds(params: Params, context: RequestContext, handler: (params: Params, context: RequestContext) => Promise<unknown>, options: { tasks: boolean; logLevel?: string }): Promise<unknown> {
    const { inputResponses, requestState, ...request } = params;
    const what = JSON.stringify([params.name ?? null, params.uri ?? null, params.ref ?? null]);
    if (requestState !== undefined) {
      const nonce = this.#gateway.requestStates.open(this.agentName, requestState);
      const rounds = nonce === undefined ? undefined : this.#gateway.rounds.get(`rounds-${nonce}`);
      if (!rounds && nonce !== undefined && this.#gateway.config.state) {
        // Sealed by a replica of this deployment (they share the key), kept in that replica's memory.
        throw new RpcError(RPC.invalidParams, 'requestState continues a request that another replica of mcpg started (or that has ended): its rounds stay with that replica; send the request again without it, and keep each agent on one replica (balance hdr(Authorization))');
      }
      if (!rounds) throw new RpcError(RPC.invalidParams, 'requestState is not one mcpg gave this agent, or the request it continues has ended; send the request again without it');
      if (rounds.what !== what) throw new RpcError(RPC.invalidParams, 'requestState belongs to another request: a retry names the same tool, prompt or resource');
      if (rounds.isTask) throw new RpcError(RPC.invalidParams, `that request is task ${rounds.nonce} now: follow it with tasks/get`);
      rounds.retry(context, inputResponses);
      return rounds.next(this.#gateway.requestStates.seal(this.agentName, rounds.nonce));
    }
    const all = this.#gateway.rounds;
    if ([...all.values()].filter((r) => r.agent === this.agentName && r.waitsForAgent).length >= MAX_ROUNDS) {
      throw new RpcError(RPC.invalidRequest, `${MAX_ROUNDS} requests are waiting for agent "${this.agentName}"'s answers; answer or cancel one first`);
    }
    const rounds: Rounds = new Rounds(this.agentName, what, context, (ctx) => handler(request, ctx), () => all.delete(rounds.context.id), options);
    all.set(rounds.context.id, rounds);
    return rounds.next(this.#gateway.requestStates.seal(this.agentName, rounds.nonce));
  }

  /**
   * A question for the agent's client during one of its requests (`related`): a request of ours
   * to an older client, a question in the request's next round to a 2026 one.
   */
  #askAgent(method: string, params: Params, options: { related?: Id; cancel?: Cancel; timeoutMs: number; key?: string }): Promise<unknown> {
    const rounds = options.related === undefined ? undefined : this.#gateway.rounds.get(options.related);
    if (rounds) return rounds.ask(method, params, options.key);
    return this.#agent.request(method, params, { cancel: options.cancel, timeoutMs: options.timeoutMs, relatedRequestId: options.related });
  }

  async listTools(): Promise<Params> {
    // The agent reads its tools before it calls: the labels are made right after this answer.
    setImmediate(() => void this.#labels().catch(() => {}));
    return { tools: this.#shown([...this.#gateway.catalog.tools(), ...this.#gateway.loginTools()].filter((t) => this.#policy.tool(t.name))) };
  }

  /** The definitions this session offers, under the names its agent uses (routed: the server's own). */
  #shown<T extends { name: string }>(items: T[]): T[] {
    const server = this.#server;
    if (server === undefined) return items;
    const prefix = `${server}${SEPARATOR}`;
    return items.filter((i) => i.name.startsWith(prefix)).map((i) => ({ ...i, name: i.name.slice(prefix.length) }));
  }

  /** The server a URI is read from, within this session's route; refused when none offers it. */
  #resourceServer(uri: unknown): Backend {
    const found = typeof uri === 'string' ? this.#gateway.catalog.resource(uri) : undefined;
    if (!found || (this.#server !== undefined && found.name !== this.#server)) throw new RpcError(RPC.invalidParams, `no server offers resource "${String(uri)}"`, { uri });
    this.#allowed(found.name);
    return found;
  }

  /** Refuses a server the agent's policy does not give it ([gateway.agent_policies]). */
  #allowed(server: string): void {
    if (!this.#policy.server(server)) throw new RpcError(RPC.invalidRequest, `mcpg refused: agent "${this.agentName}" may not use server "${server}" ([gateway.agent_policies])`);
  }

  /** The gateway-wide name of what the agent named (routed: the server's own name, prefixed). */
  #full(name: string): string {
    return this.#server === undefined ? name : `${this.#server}${SEPARATOR}${name}`;
  }

  /** tools/call, the hot path: the request and the result pass through untouched where allowed. */
  async callTool(params: Params, context: RequestContext): Promise<Params> {
    if (typeof params.name !== 'string') throw new RpcError(RPC.invalidParams, 'tools/call needs a tool name');
    const { catalog, needsLogin } = this.#gateway;
    const name = this.#full(params.name);
    const target = catalog.tool(name);
    const note = catalog.pinNote(name);
    const login = needsLogin.get(name.split(SEPARATOR)[0]!);
    if (!target && login) return { isError: true, content: [{ type: 'text', text: login }] };
    if (!target) {
      if (!note?.withheld) throw new RpcError(RPC.invalidParams, `unknown tool "${params.name}"`);
      return {
        isError: true,
        content: [{ type: 'text', text: `mcpg withheld tool "${params.name}": ${note.why} in the lock; a person should review it (\`mcpg tools diff\`) and pin it (\`mcpg tools lock\`)` }],
      };
    }
    if (!this.#policy.tool(name)) return { isError: true, content: [{ type: 'text', text: `mcpg refused "${params.name}": agent "${this.agentName}" may not use it ([gateway.agent_policies])` }] };
    const args = checkedArguments(params.arguments);
    const rounds = this.#gateway.rounds.get(context.id);
    // A tool that runs only as a task needs an agent that takes them: a 2026 one that says so.
    if (target.taskSupport === 'required' && !rounds?.tasks) {
      throw new RpcError(MISSING_CAPABILITY, `tool "${params.name}" runs only as a task: declare the ${TASKS} extension in the request's client capabilities`, { requiredCapabilities: { extensions: { [TASKS]: {} } } });
    }
    const { routes } = this.#state ?? (await this.#labels());
    // The agent's own `task` (2025-11-25) is not passed on: mcpg offers that era no tasks. For an
    // agent that takes tasks, a server of that era is asked for one where its tool offers it; a
    // 2026 server makes a task when it will. #followTask follows either to its end.
    const forwarded: Params = { ...params, name: target.name, arguments: args };
    // Deleted only when there: a delete turns the object into a slow dictionary.
    if ('task' in forwarded) delete forwarded.task;
    const legacyTasks = (target.backend.capabilities as { tasks?: { requests?: { tools?: { call?: unknown } } } }).tasks?.requests?.tools?.call;
    if (legacyTasks && rounds?.tasks && (target.taskSupport === 'required' || target.taskSupport === 'optional')) forwarded.task = { ttl: target.backend.config.maxTotalMs };
    const outcome = await this.#through({
      route: routes.get(target.backend.name)!,
      method: 'tools/call',
      tool: target.name,
      args,
      params: forwarded,
      context,
      ...(note && { note: `tool definition: ${note.why} (pin = "warn")` }),
    });
    // A refusal is a tool result the agent's model reads; the server's own error stays an error.
    if ('refused' in outcome) return { isError: true, content: [{ type: 'text', text: outcome.refused }] };
    if ('error' in outcome) throw outcome.error;
    const payloads = this.#gateway.config.payloads;
    return payloads ? offload(outcome.result, this.agentName, payloads) : outcome.result;
  }

  async getPrompt(params: Params, context: RequestContext): Promise<Params> {
    const target = typeof params.name === 'string' ? this.#gateway.catalog.prompt(this.#full(params.name)) : undefined;
    if (!target) throw new RpcError(RPC.invalidParams, `unknown prompt "${String(params.name)}"`);
    this.#allowed(target.backend.name);
    const forwarded = { ...params, name: target.name };
    const { routes } = this.#state ?? (await this.#labels());
    return answered(await this.#through({ route: routes.get(target.backend.name)!, method: 'prompts/get', tool: 'prompts/get', args: forwarded, params: forwarded, context }));
  }

  async readResource(params: Params, context: RequestContext): Promise<Params> {
    const backend = this.#resourceServer(params.uri);
    const { routes } = this.#state ?? (await this.#labels());
    return answered(await this.#through({ route: routes.get(backend.name)!, method: 'resources/read', tool: 'resources/read', args: params, params, context }));
  }

  /** Completions carry a server's data to the agent: they go through its guard, as reads do. */
  async complete(params: Params, context: RequestContext): Promise<Params> {
    const { catalog } = this.#gateway;
    const ref = (params.ref ?? {}) as { type?: unknown; name?: unknown; uri?: unknown };
    const target =
      ref.type === 'ref/prompt' && typeof ref.name === 'string'
        ? catalog.prompt(this.#full(ref.name))
        : ref.type === 'ref/resource' && typeof ref.uri === 'string'
          ? catalog.template(ref.uri)
          : undefined;
    if (!target || (this.#server !== undefined && target.backend.name !== this.#server)) throw new RpcError(RPC.invalidParams, 'completion/complete names no prompt or resource template that mcpg offers');
    this.#allowed(target.backend.name);
    if (!target.backend.capabilities.completions) return { completion: { values: [], hasMore: false } };
    const forwarded = { ...params, ref: ref.type === 'ref/prompt' ? { ...ref, name: target.name } : ref };
    const { routes } = this.#state ?? (await this.#labels());
    return answered(await this.#through({ route: routes.get(target.backend.name)!, method: 'completion/complete', tool: 'completion/complete', args: forwarded, params: forwarded, context }));
  }

  /**
   * resources/subscribe and unsubscribe go to the server that offers the URI, through its
   * guard as any request does; the session keeps the URIs it subscribed to (resourceUpdated).
   */
  async subscribe(method: 'resources/subscribe' | 'resources/unsubscribe', params: Params, context: RequestContext): Promise<Params> {
    const uri = String(params.uri);
    const backend = this.#resourceServer(params.uri);
    if (!(backend.capabilities.resources as { subscribe?: unknown } | undefined)?.subscribe) throw new RpcError(RPC.methodNotFound, `server "${backend.name}" does not support resource subscriptions`);
    const { routes } = this.#state ?? (await this.#labels());
    const result = answered(await this.#through({ route: routes.get(backend.name)!, method, tool: method, args: params, params, context }));
    if (method === 'resources/subscribe') this.#subscribed.add(`${backend.name}\n${uri}`);
    else this.#subscribed.delete(`${backend.name}\n${uri}`);
    return result;
  }

  async setLogLevel(params: Params): Promise<Params> {
    const backends = this.#gateway.backends.filter((b) => b.capabilities.logging && (this.#server === undefined || b.name === this.#server));
    await Promise.all(backends.map((b) => b.request('logging/setLevel', params).catch((err: unknown) => log.warn(`server "${b.name}": logging/setLevel failed: ${errorMessage(err)}`))));
    return {};
  }

  // ---- What the servers send of their own accord (the gateway's hooks).

  calling(server: string): boolean {
    return (this.#calls.get(server)?.length ?? 0) > 0;
  }

  listChanged(server: string, kind: ListKind): void {
    if (this.#server !== undefined && server !== this.#server) return;
    if (!this.#listening) return void this.#agent.notify(`notifications/${kind}/list_changed`).catch(() => {});
    for (const [id, { kinds }] of this.#listening) {
      if (kinds.has(kind)) void this.#agent.notify(`notifications/${kind}/list_changed`, { _meta: { [META.subscriptionId]: id } }, id).catch(() => {});
    }
  }

  /**
   * `subscriptions/listen` (2026-07-28): a long-lived request on which the agent hears the list
   * changes and the resource updates it asked for, each naming the request's id. mcpg agrees to
   * the list changes, and to each resource (at most MAX_WATCHED) whose server takes subscriptions
   * and whose guard lets the agent subscribe (`#watch`); the acknowledgement names those. It ends
   * when the agent cancels it or the connection closes, and its subscriptions with it.
   */
  async listen(params: Params, context: RequestContext): Promise<Params> {
    const asked = isObject(params.notifications) ? params.notifications : {};
    const kinds = new Set<ListKind>((['tools', 'prompts', 'resources'] as const).filter((k) => asked[`${k}ListChanged`] === true));
    const agreed: Params = Object.fromEntries([...kinds].map((k) => [`${k}ListChanged`, true]));
    const wanted = Array.isArray(asked.resourceSubscriptions) ? asked.resourceSubscriptions.filter((u): u is string => typeof u === 'string') : [];
    if (wanted.length > MAX_WATCHED) throw new RpcError(RPC.invalidParams, `one subscriptions/listen may ask for at most ${MAX_WATCHED} resources`);
    const watched = new Map<string, () => void>();
    for (const uri of new Set(wanted)) {
      const unwatch = await this.#watch(uri, context).catch((err: unknown) => void log.debug(`agent "${this.agentName}": no subscription to ${JSON.stringify(uri)}: ${errorMessage(err)}`));
      if (unwatch) watched.set(uri, unwatch);
    }
    if (wanted.length) agreed.resourceSubscriptions = [...watched.keys()];
    const listening = (this.#listening ??= new Map());
    listening.set(context.id, { kinds, resources: new Set(watched.keys()) });
    await this.#agent.notify('notifications/subscriptions/acknowledged', { notifications: agreed, _meta: { [META.subscriptionId]: context.id } }, context.id);
    await new Promise<void>((resolve) => context.cancel.onCancel(() => resolve()));
    listening.delete(context.id);
    for (const unwatch of watched.values()) unwatch();
    return { _meta: { [META.subscriptionId]: context.id } };
  }

  /**
   * A resource a 2026 agent's listen asks to hear of: at a server of the older era, subscribed
   * as resources/subscribe does (through its guard); at a 2026 server, after its guard lets the
   * agent read it, by a listen of mcpg's to that server. Resolves to what undoes it.
   */
  async #watch(uri: string, context: RequestContext): Promise<() => void> {
    const backend = this.#resourceServer(uri);
    const key = `${backend.name}\n${uri}`;
    if (!backend.modern) {
      await this.subscribe('resources/subscribe', { uri }, context);
      const after: RequestContext = { id: context.id, cancel: new Cancellation(), sendProgress: async () => {} };
      return () => void this.subscribe('resources/unsubscribe', { uri }, after).catch(() => {});
    }
    if (!(backend.capabilities.resources as { subscribe?: unknown } | undefined)?.subscribe) throw new RpcError(RPC.methodNotFound, `server "${backend.name}" does not support resource subscriptions`);
    if (!(await this.#mayRead(backend.name, uri))) throw new RpcError(RPC.invalidRequest, 'the agent may not read it');
    const stop = new Cancellation();
    void this.#gateway.backendFor(backend, this.agentName).listenFor({ resourceSubscriptions: [uri] }, stop);
    this.#subscribed.add(key);
    return () => (this.#subscribed.delete(key), stop.cancel());
  }

  /**
   * tasks/get, tasks/update and tasks/cancel (the tasks extension of 2026-07-28): about one of
   * this agent's tasks (its sessions share them, as they share its labels), by the id mcpg gave
   * it. A request that does not declare the extension is refused (-32021); an older client is
   * offered no tasks, so to it these methods do not exist.
   */
  async task(method: 'tasks/get' | 'tasks/update' | 'tasks/cancel', params: Params): Promise<unknown> {
    const version = claimedVersion(params);
    if (version === undefined) throw new RpcError(RPC.methodNotFound, `Method not found: ${method}`);
    await this.#modern(version, params);
    if (!takesTasks(claimedCapabilities(params))) {
      throw new RpcError(MISSING_CAPABILITY, `${method} needs the ${TASKS} extension declared in the request's client capabilities`, { requiredCapabilities: { extensions: { [TASKS]: {} } } });
    }
    const rounds = typeof params.taskId === 'string' ? this.#gateway.rounds.get(`rounds-${params.taskId}`) : undefined;
    if (!rounds?.isTask || rounds.agent !== this.agentName) throw new RpcError(RPC.invalidParams, `agent "${this.agentName}" has no task by that taskId`);
    rounds.touch();
    if (method === 'tasks/update') rounds.retry(undefined, params.inputResponses);
    if (method === 'tasks/cancel') rounds.cancel();
    return complete(method === 'tasks/get' ? rounds.detail() : {});
  }

  /**
   * A resource this session subscribed to changed. What reaches the agent is the URI it gave
   * (nothing else of the server's words), and only while it may read that resource, as its
   * guard labels a read of it now.
   */
  async resourceUpdated(server: string, params: Params): Promise<void> {
    const uri = params.uri;
    if (typeof uri !== 'string' || !this.#subscribed.has(`${server}\n${uri}`) || !(await this.#mayRead(server, uri))) return;
    if (!this.#listening) return void this.#agent.notify('notifications/resources/updated', { uri }).catch(() => {});
    // A 2026 agent hears it on each listen that asked for it.
    for (const [id, { resources }] of this.#listening) {
      if (resources.has(uri)) void this.#agent.notify('notifications/resources/updated', { uri, _meta: { [META.subscriptionId]: id } }, id).catch(() => {});
    }
  }

  /** The agent may read this resource of this server now, as its guard labels a read of it. */
  async #mayRead(server: string, uri: string): Promise<boolean> {
    const { routes, agent } = this.#state ?? (await this.#labels());
    const route = routes.get(server);
    if (!route) return false;
    try {
      await agent.refresh();
      const answer = await route.guard.labelResource('resources/read', { uri }, this.#backendCall(route, this.#record(route, 'resources/read', 'resources/read', agent)));
      return check(agent.labels, answer.resource, 'read').length === 0;
    } catch {
      return false;
    }
  }

  /**
   * A URL-mode elicitation has completed. Only an agent that was shown it (its read check passed)
   * hears of it, and only its id, which it was given then: an id it never saw is the server's
   * data, unlabeled.
   */
  elicitationComplete(server: string, elicitationId: unknown): void {
    if (!this.#elicitations.delete(`${server}\n${String(elicitationId)}`)) return;
    void this.#agent.notify('notifications/elicitation/complete', { elicitationId }).catch(() => {});
  }

  /**
   * A server's log message reaches the agent, named after the server, only from a server with
   * no guard and while the agent carries no tags (the rule unlabeled data follows): no guard
   * labels what a log line carries. Otherwise it stays in mcpg's log.
   */
  serverLog(server: string, params: Params): void {
    if (this.#server !== undefined && server !== this.#server) return;
    const agent = this.#state?.agent;
    if (!agent || !this.#state?.routes.get(server)?.guard.passthrough || agent.labels.secrecy.length || agent.labels.integrity.length) {
      log.debug(`server "${server}" logged: ${JSON.stringify(params).slice(0, 500)}`);
      return;
    }
    const name = typeof params.logger === 'string' ? `${server}/${params.logger}` : server;
    // During a call to that server, on that call's stream (HTTP); otherwise on the session's
    // (a 2026 agent hears notifications only about its own requests).
    const related = this.#calls.get(server)?.at(-1);
    if (this.#listening) {
      // A 2026 agent asks for log lines per request (its logLevel), and hears those at or above it.
      const asked = related === undefined ? undefined : this.#gateway.rounds.get(related)?.logLevel;
      if (asked === undefined || LOG_LEVELS.indexOf(String(params.level)) < LOG_LEVELS.indexOf(asked)) return;
    }
    void this.#agent.notify('notifications/message', { ...params, logger: name }, related).catch(() => {});
  }

  /**
   * A server asks its client (the agent) for sampling, elicitation or roots. The request is the
   * server's data, labeled by its guard (the method is the tool name): the agent reads it, so
   * it is decided as a read. The agent's answer is the agent's data going to the server: a
   * write, checked when it is given, against the labels the agent has then.
   */
  async serverRequest(server: string, method: ServerRequest, params: Params, context: RequestContext): Promise<unknown> {
    const [reply] = await this.#serverRequests(server, [{ method, params }], context);
    return reply;
  }

  /**
   * Questions of one server's asked together (a 2026 server's inputRequests, under its own keys):
   * each is labeled and read-checked before any is asked, so the agent gets them in one round.
   */
  async #serverRequests(server: string, questions: { key?: string; method: ServerRequest; params: Params }[], context: RequestContext): Promise<unknown[]> {
    const { routes, agent } = this.#state ?? (await this.#labels());
    for (const { method } of questions) if (!this.#capabilities[NEEDS[method]]) throw new RpcError(RPC.methodNotFound, `the agent's client does not support ${NEEDS[method]}`);
    const route = routes.get(server)!;
    const checked = await Promise.all(questions.map((q) => this.#readChecked(route, agent, q.method, q.params)));
    const related = this.#calls.get(server)?.at(-1);
    const replies = await Promise.all(
      questions.map((q) => this.#askAgent(q.method, shownToAgent(server, q.method, q.params), { cancel: context.cancel, timeoutMs: route.backend.config.maxTotalMs, related, key: q.key })),
    );
    for (const { record, audited, resource, refuse } of checked) {
      record.stage = 'response';
      record.operation = 'write';
      record.agent_before = agent.labels;
      const writing = check(agent.labels, resource, 'write');
      if (writing.length) {
        audited('deny', writing);
        throw refuse(`the agent's answer may not flow to server "${server}"`);
      }
      if (audited()) throw refuse('the answer could not be audited');
    }
    return replies;
  }

  /** A server's request labeled by its guard and decided as a read by the agent; what the answer's write check needs. */
  async #readChecked(route: Route, agent: AgentState, method: ServerRequest, params: Params) {
    const server = route.backend.name;
    const record = this.#record(route, method, method, agent);
    const audited = this.#audited(record, agent);
    // Refusals sent to a server never name the agent's labels: they are the agent's secrets.
    const refuse = (why: string) => new RpcError(RPC.invalidRequest, `mcpg refused ${method}: ${why} (audit id ${record.id})`);
    const unshared = (err: unknown) => {
      this.#countState(err);
      record.decision = 'error';
      record.reason = errorMessage(err);
      audited();
      return refuse('the shared state cannot be reached');
    };
    try {
      await agent.refresh();
    } catch (err) {
      throw unshared(err);
    }
    record.agent_before = agent.labels;
    let answer: ResourceAnswer;
    try {
      answer = await route.guard.labelResource(method, params, this.#backendCall(route, record));
    } catch (err) {
      record.decision = 'error';
      record.reason = `guard "${route.guard.name}" failed in label_resource: ${errorMessage(err)}`;
      audited();
      throw refuse('its guard could not label it');
    }
    record.operation = 'read';
    record.resource = answer.resource;
    if (route.mode === 'propagate') agent.absorb(answer.resource);
    const reading = route.mode === 'propagate' ? [] : check(agent.labels, answer.resource, 'read');
    if (reading.length) {
      audited('deny', reading);
      throw refuse('the agent may not read what it carries');
    }
    try {
      await agent.commit();
    } catch (err) {
      throw unshared(err);
    }
    if (audited()) throw refuse('it could not be audited');
    // A URL-mode elicitation ends later, with a notification naming its id: this agent may hear it.
    if (method === 'elicitation/create' && params.mode === 'url' && typeof params.elicitationId === 'string') {
      if (this.#elicitations.size >= MAX_ELICITATIONS) this.#elicitations.delete(this.#elicitations.values().next().value!);
      this.#elicitations.add(`${server}\n${params.elicitationId}`);
    }
    return { record, audited, resource: answer.resource, refuse };
  }

  // ---- The choke point.

  /** A refusal the shared state caused is counted (mcpg_state_errors_total). */
  #countState(err: unknown): void {
    if (err instanceof McpgError && err.code === 'STATE_UNAVAILABLE') this.#gateway.metrics?.stateError();
  }

  /** A call of the agent's, admitted within its limits, then through the choke point. */
  async #through(call: Call): Promise<Outcome> {
    if (++this.#callsMade > this.#maxCalls) return { refused: `mcpg refused "${call.tool}": this session has made the ${this.#maxCalls} calls [gateway] max_calls_per_session allows; start a new session` };
    // The labels every replica has for the agent are read while the call is admitted (one round trip to a shared store).
    const { agent } = this.#state ?? (await this.#labels());
    // Promises only where the store answers with them (src/shared/awaitable.ts).
    const refreshed = agent.refresh();
    refreshed?.catch(() => {});
    let release;
    try {
      const admitted = this.#gateway.admit(this.agentName);
      release = admitted instanceof Promise ? await admitted : admitted;
    } catch (err) {
      this.#countState(err);
      return { refused: `mcpg refused "${call.tool}": ${errorMessage(err)}` };
    }
    if (!release) return { refused: `mcpg refused "${call.tool}": agent "${this.agentName}" has ${this.#gateway.config.maxConcurrentCalls} calls in flight, the most [gateway] max_concurrent_calls allows; try again when one ends` };
    const tracing = this.#gateway.tracing;
    call.trace = tracing?.call(`${call.method} ${call.tool}`, call.params._meta, {
      'mcp.method.name': call.method,
      'mcpg.server': call.route.backend.name,
      'mcpg.tool': call.tool,
      'mcpg.agent': this.agentName,
      'mcpg.mode': call.route.mode,
    });
    try {
      const outcome = await this.#decided(call, refreshed);
      call.trace?.span.setAttribute('mcpg.outcome', 'refused' in outcome ? 'refused' : 'error' in outcome ? 'error' : 'result');
      return outcome;
    } finally {
      call.trace?.span.end();
      release();
    }
  }

  /**
   * label resource -> decide -> audit -> forward -> label response -> decide/filter -> audit,
   * on the agent's labels as `refreshed` (begun by `#through`) reads them from the shared state.
   * Nothing reaches a backend before its audit line is written (a call that cannot be audited
   * is denied), and nothing of the backend's reaches the agent before its guard labeled it:
   * progress passes its numbers, and its text only where the agent may read the resource; the
   * server's error passes only where the agent may read the resource, and otherwise becomes
   * mcpg's own message with the audit id; a result is labeled and decided whatever the
   * operation (a write's answer is data too).
   */
  async #decided(call: Call, refreshed: Promise<void> | undefined): Promise<Outcome> {
    const { route, tool, args, context } = call;
    const server = route.backend.name;
    const { agent } = this.#state ?? (await this.#labels());
    const record = this.#record(route, call.method, tool, agent, call.note);
    const audit = this.#audited(record, agent);
    const audited = (outcome: Outcome): Outcome => {
      const failure = audit();
      call.trace?.span.setAttributes(traced(record));
      return failure ? { refused: `mcpg denied "${tool}" on server "${server}": ${failure}` } : outcome;
    };
    /** A denial names what the agent asked for; about data it was not given, no secrecy tags. */
    const deny = (violations: Violation[], operation: string, given: 'asked' | 'withheld', made = false): Outcome => {
      record.decision = 'deny';
      record.violations = violations;
      record.reason = describe(violations);
      const why = describe(given === 'asked' ? violations : shownViolations(violations));
      const what = made ? `mcpg made the ${operation} "${tool}" on server "${server}" but withheld its response` : `mcpg denied ${operation} of "${tool}" on server "${server}"`;
      return audited({ refused: `${what}: ${why}. Agent labels: ${agent}.` });
    };
    const fail = (stage: string, err: unknown, made = false): Outcome => {
      this.#countState(err);
      record.decision = 'error';
      // Guard errors name the guard and the function already.
      record.reason = err instanceof McpgError ? err.message : `${stage}: ${errorMessage(err)}`;
      log.warn(`server "${server}": ${record.reason}`);
      const what = made ? `mcpg made the call "${tool}" on server "${server}" but withheld its response` : `mcpg denied "${tool}" on server "${server}"`;
      return audited({ refused: `${what}: ${record.reason}` });
    };
    const backend = this.#backendCall(route, record);
    // The labels every replica has for this agent now: a write is checked against every read given before it.
    try {
      if (refreshed) await refreshed;
    } catch (err) {
      return fail('the shared state', err);
    }
    record.agent_before = agent.labels;

    let answer: ResourceAnswer;
    try {
      const labeled = this.#timed(call, 'label_resource', () => route.guard.labelResource(tool, args, backend));
      answer = labeled instanceof Promise ? await labeled : labeled;
    } catch (err) {
      return fail(`guard "${route.guard.name}" failed in label_resource`, err);
    }
    record.operation = answer.operation;
    record.resource = answer.resource;
    const before = decideBefore(route.mode, agent.labels, answer.resource, answer.operation);
    if (before.deny) {
      // Only a write can be put to the human; the agent's labels stay as they are either way.
      const writes = before.deny.some((v) => v.rule.startsWith('write'));
      if (route.onViolation !== 'ask' || !writes) return deny(before.deny, answer.operation, 'asked');
      const shown =
        `The agent wants to call "${tool}" on server "${server}" (a ${answer.operation}). mcpg's information-flow policy ` +
        `forbids it: ${describe(before.deny)}. The agent's labels: ${agent}. Allow this one call?`;
      const reply = await this.#ask(shown, context.id);
      record.approval = { answer: reply, by: 'client', time: new Date().toISOString(), shown };
      if (reply !== 'allow') return deny(before.deny, answer.operation, 'asked');
      record.violations = before.deny;
      record.reason = `allowed once by the human: ${describe(before.deny)}`;
    }
    const gate = audited({ result: {} });
    if ('refused' in gate) return gate;

    // The response line repeats the request's fields, so each line reads on its own.
    record.stage = 'response';
    const made = answer.operation !== 'read';
    const sent: Promise<void>[] = [];
    const onprogress = context.progressToken === undefined ? undefined : (p: Progress) => void sent.push(context.sendProgress(progressShown(p, agent.labels, answer.resource)));
    let result: Params;
    const inFlight = this.#calls.get(server) ?? [];
    this.#calls.set(server, inFlight);
    inFlight.push(context.id);
    try {
      result = await this.#request(call, onprogress);
    } catch (err) {
      if (err instanceof McpgError || err instanceof LocalError) {
        record.decision = 'error';
        record.reason = errorMessage(err);
        // mcpg's own -32021 says what the agent must declare: it stays an error.
        return audited(err instanceof LocalError && err.code === MISSING_CAPABILITY ? { error: err } : { refused: err.message });
      }
      if (!(err instanceof RpcError)) throw err;
      // The server's error is its data, about the resource the guard labeled.
      if (route.mode === 'propagate') agent.absorb(answer.resource);
      const reading = check(agent.labels, answer.resource, 'read');
      record.decision = reading.length ? 'deny' : 'error';
      record.violations = reading;
      record.reason = reading.length ? `the server's error is withheld: ${describe(reading)}` : `the server answered error ${err.code}`;
      if (reading.length) return audited({ refused: `mcpg withheld the error server "${server}" answered to "${tool}": the agent may not read it (audit id ${record.id})` });
      try {
        await agent.commit();
      } catch (stateErr) {
        return fail('the shared state', stateErr, true);
      }
      return audited({ error: err });
    } finally {
      inFlight.splice(inFlight.indexOf(context.id), 1);
      if (sent.length) await Promise.all(sent);
    }

    let after;
    try {
      // A guard that labeled the response with the resource, unread, is not asked again.
      const labeling = answer.wholeResponse ? WHOLE_RESPONSE : await this.#timed(call, 'label_response', () => route.guard.labelResponse(tool, args, result, backend));
      after = decideAfter(route.mode, agent, result, split(result, answer.resource, labeling), answer.operation);
    } catch (err) {
      const stage = err instanceof ResponseShapeError ? 'malformed response labels' : 'label_response';
      return fail(`guard "${route.guard.name}" failed in ${stage}`, err, made);
    }
    if (after.deny) return deny(after.deny, answer.operation, after.asked ? 'asked' : 'withheld', after.made);
    record.items = { total: after.total, withheld: after.withheld };
    if (after.withheld || result !== after.result) {
      record.decision = 'filter';
      record.violations = after.violations;
      record.reason = `${after.withheld} of ${after.total} items withheld`;
    }
    // What the agent read is recorded for every replica before it is given the data.
    try {
      const committed = agent.commit();
      if (committed) await committed;
    } catch (err) {
      return fail('the shared state', err, true);
    }
    if (after.absorbed) log.debug(`agent labels now ${format(agent.labels)}`);
    return audited({ result: after.result });
  }

  /**
   * The call sent to its server. A 2026 server that needs the client's input answers
   * `input_required`: its inputRequests are server requests like any other (through
   * `#serverRequests`: read-checked, the agent's answers write-checked), and the call is sent
   * again with the answers and the server's own requestState, as many rounds as it takes, within
   * bounds. A server that makes the call a task is followed to the task's end (`#followTask`).
   */
  async #request(call: Call, onprogress: ((p: Progress) => void) | undefined): Promise<Params> {
    const backend = this.#gateway.backendFor(call.route.backend, this.agentName);
    const refuse = (why: string) => new LocalError(RPC.invalidRequest, `mcpg stopped "${call.tool}" on server "${call.route.backend.name}": ${why}`);
    let params = call.params;
    for (let round = 1; ; round++) {
      const started = performance.now();
      const send = (sent: Params) => backend.request(call.method, sent, { cancel: call.context.cancel, capabilities: this.#capabilities, onprogress });
      const { tracing } = this.#gateway;
      // Traced: the server's request is a child span, and the server gets its trace context in _meta.
      const result = tracing && call.trace
        ? await tracing.child(call.trace.context, `${call.method} ${call.route.backend.name}`, 'client', { 'mcpg.server': call.route.backend.name }, (context) => send({ ...params, _meta: tracing.inject(context, params._meta) }))
        : await send(params);
      this.#gateway.metrics?.backend(call.route.backend.name, call.method, (performance.now() - started) / 1000);
      if (result.resultType === 'task' || (call.params.task !== undefined && isObject(result.task))) return this.#followTask(call, backend, result, refuse);
      if (result.resultType !== 'input_required') return result;
      if (round > MAX_SERVER_ROUNDS) throw refuse(`the server asked for input ${MAX_SERVER_ROUNDS} times`);
      const inputResponses = await this.#answers(call, result.inputRequests, new Set(), refuse);
      params = { ...call.params, inputResponses, ...(result.requestState !== undefined && { requestState: result.requestState }) };
    }
  }

  /** The agent's answers to a server's inputRequests (those not in `answered`), under the server's keys. */
  async #answers(call: Call, requests: unknown, answered: Set<string>, refuse: (why: string) => LocalError): Promise<Params> {
    if (!isObject(requests) || Object.keys(requests).length === 0 || Object.keys(requests).length > 16) throw refuse('it asked for input without 1 to 16 inputRequests');
    const questions = Object.entries(requests)
      .filter(([key]) => !answered.has(key))
      .map(([key, request]) => {
        const asked = isObject(request) ? request : {};
        if (!SERVER_REQUESTS.includes(asked.method as ServerRequest)) throw refuse(`it asks its client for ${JSON.stringify(asked.method ?? null)}, which mcpg does not relay`);
        return { key, method: asked.method as ServerRequest, params: isObject(asked.params) ? asked.params : {} };
      });
    // A 2026 agent is told what it did not declare: the request fails, and says what it needs.
    const lacking = questions.map((q) => NEEDS[q.method]).find((need) => !this.#capabilities[need]);
    if (lacking && this.#gateway.rounds.has(call.context.id)) {
      throw new LocalError(MISSING_CAPABILITY, `server "${call.route.backend.name}" needs the client capability ${lacking} for "${call.tool}"`, { requiredCapabilities: { [lacking]: {} } });
    }
    try {
      const replies = await this.#serverRequests(call.route.backend.name, questions, call.context);
      return Object.fromEntries(questions.map((q, i) => [q.key, replies[i]]));
    } catch (err) {
      // mcpg's refusal (or the agent's error) ends the call: it is not the server's answer.
      if (err instanceof RpcError && !(err instanceof LocalError)) throw refuse(err.message);
      throw err;
    }
  }

  /**
   * A call the server made a task: a 2026 task (SEP-2663) is asked after (tasks/get, at the
   * interval it names) until it ends, its questions answered as a round's are (tasks/update);
   * a 2025-11-25 task's result is waited for (tasks/result). What it ends with is the call's
   * result or error, and goes back through the choke point. The agent's request becomes mcpg's
   * own task when the agent takes tasks (Rounds); cancelling it cancels the server's task. A
   * task is followed no longer than the server's max_total_timeout.
   */
  async #followTask(call: Call, backend: Backend, created: Params, refuse: (why: string) => LocalError): Promise<Params> {
    const modern = created.resultType === 'task';
    const taskId = modern ? created.taskId : (created.task as Params).taskId;
    if (typeof taskId !== 'string' || taskId.length > 1024) throw refuse('it made the call a task without a taskId');
    this.#gateway.rounds.get(call.context.id)?.becameTask();
    const { cancel } = call.context;
    const stopListening = cancel.onCancel(() => void backend.request('tasks/cancel', { taskId }).catch(() => {}));
    try {
      if (!modern) return await backend.request('tasks/result', { taskId }, { cancel });
      const deadline = Date.now() + call.route.backend.config.maxTotalMs;
      const answered = new Set<string>();
      let asked = 0;
      for (let task = created; ; task = await backend.request('tasks/get', { taskId }, { cancel })) {
        if (task.status === 'completed') {
          if (!isObject(task.result)) throw refuse('its task completed without a result');
          return task.result;
        }
        if (task.status === 'failed') {
          // The server's error, as it would have answered the call: its data, read-checked.
          const e = isObject(task.error) ? task.error : {};
          throw new RpcError(typeof e.code === 'number' ? e.code : RPC.internalError, typeof e.message === 'string' ? e.message : 'the task failed', e.data);
        }
        if (task.status === 'cancelled') throw refuse('the server cancelled its task');
        if (Date.now() > deadline) throw refuse(`its task did not end within max_total_timeout (${call.route.backend.config.maxTotalMs / 1000} s)`);
        const open = task.status === 'input_required' && isObject(task.inputRequests) ? Object.keys(task.inputRequests).filter((k) => !answered.has(k)) : [];
        if (open.length) {
          if (++asked > MAX_SERVER_ROUNDS) throw refuse(`the server asked for input ${MAX_SERVER_ROUNDS} times`);
          const inputResponses = await this.#answers(call, task.inputRequests, answered, refuse);
          for (const key of Object.keys(inputResponses)) answered.add(key);
          await backend.request('tasks/update', { taskId, inputResponses }, { cancel });
          continue;
        }
        const interval = typeof task.pollIntervalMs === 'number' ? Math.min(Math.max(task.pollIntervalMs, 50), 5000) : 500;
        await pause(interval, cancel, new LocalError(RPC.requestTimeout, 'cancelled'));
      }
    } finally {
      stopListening();
    }
  }

  /**
   * The agent's labels and the routes; the first call asks the gateway for them. Once made they
   * are `#state`, which callers read first (`this.#state ?? (await this.#labels())`): a call
   * does not wait a turn of the event loop for what it has.
   */
  #labels(): Promise<{ routes: Map<string, Route>; agent: AgentState }> {
    this.#labeled ??= this.#gateway.labeled().then(({ routes, initial }) => (this.#state = { routes, agent: this.#gateway.labelsOf(this.agentName, initial) }));
    return this.#labeled;
  }

  #record(route: Route, method: string, tool: string, agent: AgentState, note?: string): AuditRecord {
    return {
      time: '',
      id: this.#gateway.nextAuditId(),
      stage: 'request',
      agent: this.agentName,
      server: route.backend.name,
      guard: route.guard.name,
      mode: route.mode,
      method,
      tool,
      operation: null,
      resource: null,
      agent_before: agent.labels,
      agent_after: agent.labels,
      decision: 'allow',
      violations: [],
      items: null,
      backend_calls: [],
      reason: note ?? null,
      approval: null,
    };
  }

  /** Writes a record (with a decision, when given); returns why it could not be written. */
  #audited(record: AuditRecord, agent: AgentState) {
    return (decision?: AuditRecord['decision'], violations?: Violation[]): string | undefined => {
      if (decision) record.decision = decision;
      if (violations) {
        record.violations = violations;
        record.reason = describe(violations);
      }
      record.agent_after = agent.labels;
      const failure = this.#gateway.audit?.write(record);
      this.#gateway.metrics?.decided(record);
      if (failure) log.error(`server "${record.server}": ${failure}`);
      return failure;
    };
  }

  /** A guard's labeling, timed for the metrics and a child span of the call's. */
  #timed<T>(call: Call, stage: 'label_resource' | 'label_response', label: () => Awaitable<T>): Awaitable<T> {
    const { metrics, tracing } = this.#gateway;
    const { route } = call;
    // Neither metrics nor tracing: the guard's own answer, with no wrapper's ticks a call.
    if (!metrics && !(tracing && call.trace)) return label();
    const started = performance.now();
    const labeled = tracing && call.trace ? tracing.child(call.trace.context, `${stage} ${route.guard.name}`, 'internal', { 'mcpg.guard': route.guard.name }, async () => label()) : Promise.resolve(label());
    return labeled.finally(() => metrics?.guard(route.backend.name, route.guard.name, stage, (performance.now() - started) / 1000));
  }

  /** The guard's call_backend: to its own server (or mcpg's host tools), outside DIFC, audited. */
  #backendCall(route: Route, record: AuditRecord): BackendCall {
    const server = route.backend.name;
    return Object.assign(
      async (name: string, callArgs: Record<string, unknown>, cancel?: Cancel) => {
        log.debug(`guard "${route.guard.name}" calls ${server}.${name}`);
        try {
          const host = route.hostTools?.names.includes(name) ? route.hostTools.tools : undefined;
          const r = host ? await host.call(name as HostTool, callArgs) : await this.#gateway.backendFor(route.backend, this.agentName).request('tools/call', { name, arguments: callArgs }, { cancel });
          record.backend_calls.push({ tool: name, ok: true });
          return r;
        } catch (err) {
          record.backend_calls.push({ tool: name, ok: false });
          throw err;
        }
      },
      { refused: (name: string, why: string) => void record.backend_calls.push({ tool: name, ok: false, refused: why }) },
    );
  }

  /**
   * Puts a forbidden write to the human through the agent's client (MCP elicitation): "allow
   * once" or "deny". Without the capability, or without an answer in time, the write is denied.
   */
  async #ask(message: string, related: Id): Promise<Answer> {
    if (!this.#capabilities.elicitation) return 'unsupported';
    try {
      const reply = (await this.#askAgent(
        'elicitation/create',
        { message, requestedSchema: { type: 'object', properties: { decision: { type: 'string', title: 'Decision', enum: ['allow once', 'deny'] } }, required: ['decision'] } },
        { timeoutMs: this.#gateway.config.askTimeoutMs, related },
      )) as Params;
      return reply.action === 'accept' && (reply.content as { decision?: unknown } | undefined)?.decision === 'allow once' ? 'allow' : 'deny';
    } catch (err) {
      return err instanceof RpcError && err.code === RPC.requestTimeout ? 'timeout' : 'deny';
    }
  }
}

/**
 * A server's request as the agent is shown it. Sampling asks for no context of the client's
 * (`includeContext` would put other servers' conversations into the answer this server gets).
 * An elicitation says which server asks, with the server's words quoted line by line, so no
 * server can pass its text off as mcpg's own questions (which are not quoted).
 */
function shownToAgent(server: string, method: ServerRequest, params: Params): Params {
  if (method === 'sampling/createMessage' && params.includeContext !== undefined) return { ...params, includeContext: 'none' };
  if (method === 'elicitation/create') {
    const words = String(params.message ?? '')
      .split(/\r\n|\r|\n/)
      .map((line) => `> ${line}`)
      .join('\n');
    return { ...params, message: `Server "${server}" asks (through mcpg; its words are quoted):\n${words}` };
  }
  return params;
}

/** Progress as the agent sees it: the numbers, and the text only if the agent may read the resource. */
function progressShown(p: Progress, agent: Labels, resource: Labels): Progress {
  const shown: Progress = { progress: Number(p.progress) };
  if (typeof p.total === 'number') shown.total = p.total;
  if (typeof p.message === 'string' && check(agent, resource, 'read').length === 0) shown.message = p.message;
  return shown;
}

function checkedArguments(args: unknown): Record<string, unknown> {
  if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args))) {
    throw new RpcError(RPC.invalidParams, 'tools/call arguments must be an object');
  }
  return (args ?? {}) as Record<string, unknown>;
}

/** What a call's span says of its decision: the audit record's decision, labels and items. */
function traced(record: AuditRecord): Record<string, string | number | string[]> {
  return {
    'mcpg.audit_id': record.id,
    'mcpg.decision': record.decision,
    ...(record.operation && { 'mcpg.operation': record.operation }),
    ...(record.resource && { 'mcpg.resource.secrecy': record.resource.secrecy, 'mcpg.resource.integrity': record.resource.integrity }),
    'mcpg.agent.secrecy': record.agent_after.secrecy,
    'mcpg.agent.integrity': record.agent_after.integrity,
    ...(record.items && { 'mcpg.items.total': record.items.total, 'mcpg.items.withheld': record.items.withheld }),
    ...(record.reason && { 'mcpg.reason': record.reason }),
  };
}

/** Log levels, least severe first. */
const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

/** The log level a 2026 request asks its log lines at (`_meta`), if it asks for any. */
function askedLogLevel(params: Params): string | undefined {
  const level = (params._meta as Params)[LOG_LEVEL_META];
  return typeof level === 'string' && LOG_LEVELS.includes(level) ? level : undefined;
}

/** A 2026 result says what kind it is (`complete` unless it asks for input) and, in its _meta, which server answers. */
function complete(result: unknown): unknown {
  if (!isObject(result)) return result;
  const meta = isObject(result._meta) ? result._meta : {};
  return { resultType: 'complete', ...result, _meta: { ...meta, [META.serverInfo]: IMPLEMENTATION } };
}

/** Methods other than tools/call have no error result: a refusal is a JSON-RPC error. */
function answered(outcome: Outcome): Params {
  if ('refused' in outcome) throw new RpcError(RPC.invalidRequest, outcome.refused);
  if ('error' in outcome) throw outcome.error;
  return outcome.result;
}

export interface StdioOptions extends GatewayOptions {
  /** The agent's side of the wire: mcpg reads requests here and writes only MCP there. */
  input: Readable;
  output: Writable;
  /** Aborting it (a signal) ends the gateway, during start-up too. */
  signal?: AbortSignal;
}

export interface Served {
  /**
   * Resolves when the session ends (the agent closed the connection, or close()); rejects with
   * the reason when something else ended it (a guard whose label_agent failed).
   */
  closed: Promise<void>;
  close(): Promise<void>;
}

/**
 * `mcpg run`: one gateway and one session on a pair of streams. Resolves once serving (the
 * agent's initialize is what start-up waits for); rejects, with everything it started stopped,
 * when start-up fails or is interrupted by the signal or the end of the input.
 */
export async function serveStdio(options: StdioOptions): Promise<Served> {
  const gateway = new Gateway(options);
  const session = new Session(gateway, new LineTransport(options.input, options.output, { maxBytes: options.config.maxRequestBytes }), { agent: 'stdio' });
  const close = async () => {
    await gateway.close();
    await session.close();
  };
  /** Why start-up was cut short, if it was: that, not what failed because of it, is reported. */
  let interruption: McpgError | undefined;
  const interrupted = Promise.withResolvers<never>();
  interrupted.promise.catch(() => {});
  const stopStarting = (why: string) => interrupted.reject((interruption ??= new McpgError('INTERRUPTED', why)));
  let ended: unknown;
  gateway.onFailure((err) => {
    ended ??= err;
    void session.close();
  });
  const closed = session.closed.then(async () => {
    stopStarting('the agent closed the connection during start-up');
    await close();
    if (ended !== undefined) throw ended;
  });
  closed.catch(() => {});
  options.signal?.addEventListener(
    'abort',
    () => {
      stopStarting('interrupted during start-up');
      void close();
    },
    { once: true },
  );
  await session.start();
  try {
    await Promise.race([gateway.started, interrupted.promise]);
  } catch (err) {
    const cause = interruption ?? err;
    await close();
    throw cause;
  }
  return { closed, close };
}
