import type { Server } from '../config/load.ts';
import { McpgError, errorMessage } from '../shared/errors.ts';
import { logger } from '../shared/log.ts';
import { IMPLEMENTATION } from '../shared/version.ts';
import { type ParamHeader, paramHeaderValues, paramHeaders } from './param-headers.ts';
import { HANDSHAKE_VERSIONS, LATEST_HANDSHAKE, MODERN, UNSUPPORTED_VERSION, enveloped } from './protocol.ts';
import { TASKS } from './rounds.ts';
import type { Cancel } from '../shared/cancel.ts';
import { type Id, LocalError, type Params, type Progress, RPC, type RequestContext, Router, RpcError, isObject } from './router.ts';
import type { RemoteTransport } from './remote.ts';
import { ChildTransport, inheritedEnvironment } from './stdio.ts';

/** The HTTP side (transports, OAuth), loaded for servers with a url only. */
const remote = () => import('./remote.ts');

/** Wait before restart N+1 after N failures in a row: a crash restarts at once, a crash loop backs off. */
const BACKOFF_MS = [0, 1_000, 2_000, 5_000, 10_000, 30_000];
/** A backend that stayed up this long has recovered: its failure count starts again. */
const HEALTHY_MS = 60_000;
/** Bounds on what is kept of a server's stderr: the length of a line, and lines held before start. */
const STDERR_LINE = 4096;
const HELD_LINES = 100;

export type ListKind = 'tools' | 'prompts' | 'resources';
/** What a server lists: its definitions, and the resources and templates it offers. */
export type Listing = 'tools' | 'prompts' | 'resources' | 'resource_templates';
const LISTS: Record<Listing, { method: string; key: string; capability: string }> = {
  tools: { method: 'tools/list', key: 'tools', capability: 'tools' },
  prompts: { method: 'prompts/list', key: 'prompts', capability: 'prompts' },
  resources: { method: 'resources/list', key: 'resources', capability: 'resources' },
  resource_templates: { method: 'resources/templates/list', key: 'resourceTemplates', capability: 'resources' },
};
/** Pages one list may take before mcpg stops reading it (a server that pages forever). */
const MAX_PAGES = 100;
/** How long a server has to answer server/discover before it is taken for an older one. */
const DISCOVER_MS = 5_000;

/** Every client capability mcpg relays, for a server introduced on behalf of any agent. */
export const RELAYED_CAPABILITIES: Params = { sampling: {}, elicitation: {}, roots: { listChanged: true } };

/** The capabilities of a client's that mcpg relays to a server. */
export function relayed(capabilities: Params): Params {
  const out: Params = {};
  for (const key of Object.keys(RELAYED_CAPABILITIES)) if (capabilities[key]) out[key] = capabilities[key];
  return out;
}

/** Requests a server may send to the client; the gateway passes them on to the agent. */
export const SERVER_REQUESTS = ['sampling/createMessage', 'elicitation/create', 'roots/list'] as const;
export type ServerRequest = (typeof SERVER_REQUESTS)[number];

export interface BackendHooks {
  /** The server says a list changed, or it restarted (its lists may differ). */
  listChanged(kind: ListKind): void;
  /** A request from the server to the client (sampling, elicitation, roots). */
  serverRequest(method: ServerRequest, params: Params, context: RequestContext): Promise<unknown>;
  /** A log message from the server (`notifications/message`). */
  log(params: Params): void;
  /** A resource the agent subscribed to changed (`notifications/resources/updated`). */
  updated(params: Params): void;
  /** A URL-mode elicitation completed (`notifications/elicitation/complete`). */
  elicitationComplete(params: Params): void;
}

export interface CallOptions {
  cancel?: Cancel;
  /** The capabilities of the agent the request is for (a 2026 server is told those it may use, of the ones mcpg relays). */
  capabilities?: Params;
  onprogress?: (progress: Progress) => void;
}

/**
 * One backend MCP server: its connection, its restarts, and the errors that name it. It is
 * introduced to the server as a client with the capabilities the agent declared, so requests
 * the server makes of its client reach the agent. A backend that dies fails its in-flight calls
 * and is started again on next use, no sooner than the backoff allows.
 */
export class Backend {
  readonly name: string;
  readonly config: Server;
  readonly #hooks: BackendHooks;
  #clientCapabilities: Params = {};
  #router?: Router;
  #transport?: ChildTransport | RemoteTransport;
  /** The process started ahead of its introduction (see spawn). */
  #spawned?: Promise<Router>;
  #remote?: Awaited<ReturnType<typeof remote>>;
  /** stderr lines of a server started ahead, until it is introduced (see #stderr). */
  #held?: string[];
  #capabilities: Params = {};
  /** The server speaks 2026-07-28: no handshake, each request carries its envelope. */
  #modern = false;
  /** The server's process exited when asked server/discover: it is not asked again. */
  #exitsOnProbe = false;
  /** Per tool, the parameters its calls carry in Mcp-Param-* headers too (HTTP, 2026-07-28). */
  #paramHeaders = new Map<string, ParamHeader[]>();
  #connecting?: Promise<Router>;
  #failures = 0;
  #retryAt = 0;
  #startedAt = 0;
  #lastError = '';
  #closing = false;
  readonly #log;

  constructor(config: Server, hooks: BackendHooks) {
    this.name = config.name;
    this.config = config;
    this.#hooks = hooks;
    this.#log = logger(`backend:${config.name}`);
  }

  /** Connected and introduced now (`/health`). */
  get running(): boolean {
    return this.#router !== undefined;
  }

  get uptimeSeconds(): number {
    return this.#router ? Math.floor((Date.now() - this.#startedAt) / 1000) : 0;
  }

  /** The server speaks 2026-07-28 (it answered server/discover). */
  get modern(): boolean {
    return this.#modern;
  }

  /** What the server declared at initialize (or in server/discover). */
  get capabilities(): { tools?: unknown; prompts?: unknown; resources?: unknown; logging?: unknown; completions?: unknown } {
    return this.#capabilities;
  }

  /**
   * Starts the server's process now, ahead of start(): it boots while guards load and the agent
   * connects, and is introduced (initialize) only once the agent's capabilities are known.
   */
  spawn(): void {
    if ('url' in this.config || this.#router || this.#spawned || this.#closing) return;
    this.#held = [];
    this.#spawned = this.#open();
    this.#spawned.catch(() => {}); // reported by the start that takes it
  }

  /** Starts the backend as a client with these capabilities; a failure names the server. */
  async start(clientCapabilities: Params): Promise<void> {
    this.#clientCapabilities = clientCapabilities;
    await this.#connected();
  }

  /**
   * A request to a 2026 server: mcpg's envelope, declaring what the server may ask of its client
   * (those capabilities mcpg relays that this server's clients, or the agent the request is for,
   * declared) and tasks (mcpg follows a server's tasks itself).
   */
  #enveloped(params: Params | undefined, agent?: Params): Params {
    return enveloped(params, { ...(agent ? relayed(agent) : this.#clientCapabilities), extensions: { [TASKS]: {} } });
  }

  /** A subscriptions/listen of mcpg's to this 2026 server, open until `cancel` ends it (or the server does). */
  async listenFor(notifications: Params, cancel: Cancel): Promise<void> {
    try {
      const router = await this.#connected();
      await router.request('subscriptions/listen', this.#enveloped({ notifications }), { cancel, timeoutMs: 2 ** 31 - 1 });
    } catch (err) {
      this.#log.debug(`subscriptions/listen ended: ${errorMessage(err)}`);
    }
  }

  async request(method: string, params: Params | undefined, options: CallOptions = {}): Promise<Params> {
    const router = this.#router ?? (await this.#connected());
    try {
      return await router.request(method, this.#modern ? this.#enveloped(params, options.capabilities) : params, {
        cancel: options.cancel,
        onprogress: options.onprogress,
        timeoutMs: this.config.toolTimeoutMs,
        maxTotalMs: this.config.maxTotalMs,
      });
    } catch (err) {
      // Only mcpg's own conclusions are read here; the server's errors, whatever their code, are its data.
      if (err instanceof LocalError && err.code === RPC.connectionClosed) {
        throw new McpgError('BACKEND_UNAVAILABLE', `server "${this.name}" exited during ${method}; it restarts on next use`);
      }
      if (err instanceof LocalError && err.code === RPC.requestTimeout && err.message !== 'cancelled') {
        throw new McpgError('BACKEND_UNAVAILABLE', err.message);
      }
      // A step-up (403 insufficient_scope), a refused refresh or credentials: a person must act.
      if ('url' in this.config) throw this.#remote?.authFailure(err, this.config) ?? err;
      throw err;
    }
  }

  /**
   * Everything the server lists of one kind, read page by page: bounded in pages, stopped when
   * a cursor comes back, entries that are not definitions left out (a tool whose inputSchema
   * is not an object schema would make an SDK-built agent reject every server's tools), and a
   * server that does not implement the list (-32601, as many do for templates) lists nothing.
   * Each of these is a warning naming the server; none stops the others.
   */
  async list(kind: Listing): Promise<Params[]> {
    const { method, key, capability } = LISTS[kind];
    if (!(this.#capabilities as Params)[capability]) return [];
    const all: Params[] = [];
    const cursors = new Set<string>();
    let cursor: string | undefined;
    for (let page = 1; ; page++) {
      let answer: Params;
      try {
        answer = await this.request(method, cursor === undefined ? undefined : { cursor });
      } catch (err) {
        if (!(err instanceof RpcError && !(err instanceof LocalError) && err.code === RPC.methodNotFound)) throw err;
        this.#log.warn(`does not implement ${method} (-32601); it lists no ${key}`);
        return all;
      }
      const items = answer[key];
      if (!Array.isArray(items)) this.#log.warn(`answered ${method} without a list of ${key}; read as none`);
      else
        items.forEach((item: unknown, i) => {
          const declared = kind === 'tools' && isObject(item) ? paramHeaders(item.inputSchema) : { headers: [] };
          const why = notADefinition(kind, item) ?? ('invalid' in declared ? `has an invalid x-mcp-header (${declared.invalid})` : undefined);
          if (why) return this.#log.warn(`${method}: ${key}[${i}] ${why}; left out`);
          all.push(item as Params);
          if ('headers' in declared && declared.headers.length) this.#paramHeaders.set(String((item as Params).name), declared.headers);
        });
      const next = answer.nextCursor;
      if (typeof next !== 'string') return all;
      if (cursors.has(next) || page >= MAX_PAGES) {
        this.#log.warn(`${method}: ${cursors.has(next) ? 'a nextCursor came back' : `more than ${MAX_PAGES} pages`}; read ${all.length} ${key} and stopped`);
        return all;
      }
      cursors.add(next);
      cursor = next;
    }
  }

  notify(method: string, params?: Params): void {
    this.#router?.notify(method, params).catch(() => {});
  }

  /** Ends the server at any moment, a start in progress included (its process is stopped). */
  async close(): Promise<void> {
    this.#closing = true;
    await this.#router?.close().catch(() => {});
    await this.#transport?.close().catch(() => {});
    await this.#spawned?.catch(() => {});
    await this.#connecting?.catch(() => {});
  }

  #connected(): Promise<Router> {
    if (this.#router) return Promise.resolve(this.#router);
    if (this.#connecting) return this.#connecting;
    if (this.#closing) return Promise.reject(new McpgError('BACKEND_UNAVAILABLE', `server "${this.name}" is shutting down`));
    const wait = this.#retryAt - Date.now();
    if (wait > 0) {
      return Promise.reject(
        new McpgError('BACKEND_UNAVAILABLE', `server "${this.name}" is unavailable (${this.#lastError}); next restart attempt in ${Math.ceil(wait / 1000)}s`),
      );
    }
    this.#connecting = this.#connect().finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  /** A connection to the server, not yet introduced: its process started, or its URL's client made. */
  async #open(): Promise<Router> {
    if ('url' in this.config) this.#remote ??= await remote();
    const routed: { router?: Router } = {};
    const transport = this.#makeTransport((id, limit) => routed.router?.oversize(id, limit));
    this.#transport = transport;
    const router = (routed.router = new Router(transport, `server "${this.name}"`));
    router.onproblem = (p) => this.#log.warn(p);
    router.onRequest('ping', async () => ({}));
    for (const method of SERVER_REQUESTS) router.onRequest(method, (params, context) => this.#hooks.serverRequest(method, params, context));
    for (const kind of ['tools', 'prompts', 'resources'] as const) router.onNotification(`notifications/${kind}/list_changed`, () => this.#hooks.listChanged(kind));
    router.onNotification('notifications/message', (params) => this.#hooks.log(params));
    router.onNotification('notifications/resources/updated', (params) => this.#hooks.updated(params));
    router.onNotification('notifications/elicitation/complete', (params) => this.#hooks.elicitationComplete(params));
    try {
      await router.start();
    } catch (err) {
      await router.close().catch(() => {});
      throw err;
    }
    return router;
  }

  async #connect(): Promise<Router> {
    const restart = this.#lastError !== '';
    const opening = this.#spawned ?? this.#open();
    this.#spawned = undefined;
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const line of held) this.#stderr(line);
    let router: Router | undefined;
    try {
      router = await opening;
      const transport = this.#transport!;
      const http = transport instanceof ChildTransport ? undefined : transport;
      // 2026-07-28 first; a server that does not know server/discover is introduced the older way.
      // HTTP transports send the version in a header on every request.
      http?.setProtocolVersion(MODERN);
      const wanted = this.config.protocol;
      let discovered: Params | undefined;
      try {
        discovered = wanted === '2025-11-25' || this.#exitsOnProbe ? undefined : await this.#discover(router);
      } catch (err) {
        // A stdio server of the older era that exits on a request it does not know: started
        // again and introduced with initialize, now and at its restarts (not when mcpg is
        // closing: then mcpg ended it).
        if (http || wanted === MODERN || this.#closing || !(err instanceof LocalError && err.code === RPC.connectionClosed)) throw err;
        this.#log.warn('exited when asked server/discover; started again and introduced with initialize (protocol = "2025-11-25" skips the probe)');
        this.#exitsOnProbe = true;
        router = await this.#open();
      }
      if (wanted === MODERN && !discovered) throw new Error(`it did not answer server/discover for ${MODERN} (its config says protocol = "${MODERN}")`);
      this.#modern = discovered !== undefined;
      if (discovered) {
        this.#capabilities = (discovered.capabilities ?? {}) as Params;
        this.#listen(router);
      }
      else {
        http?.setProtocolVersion('');
        const init = await router.request('initialize', { protocolVersion: LATEST_HANDSHAKE, capabilities: this.#clientCapabilities, clientInfo: IMPLEMENTATION }, { timeoutMs: this.config.startupTimeoutMs });
        const version = String(init.protocolVersion);
        if (!HANDSHAKE_VERSIONS.includes(version)) throw new Error(`it speaks MCP protocol version "${version}", which mcpg does not`);
        http?.setProtocolVersion(version);
        this.#capabilities = (init.capabilities ?? {}) as Params;
        await router.notify('notifications/initialized');
      }
    } catch (err) {
      await router?.close().catch(() => {});
      await this.#transport?.close().catch(() => {});
      this.#lastError = startError(err, this.config, this.#remote);
      this.#failed();
      if (this.#remote?.needsLogin(err)) throw new McpgError('BACKEND_AUTH', this.#lastError, { cause: err });
      throw new McpgError('BACKEND_START', `server "${this.name}" failed to start: ${this.#lastError}`, { cause: err });
    }
    this.#router = router;
    this.#startedAt = Date.now();
    router.onclose = () => {
      if (this.#router !== router) return;
      this.#router = undefined;
      if (this.#closing) return;
      if (Date.now() - this.#startedAt > HEALTHY_MS) this.#failures = 0;
      this.#lastError = 'it exited';
      this.#failed();
      this.#log.warn('exited; it restarts on next use');
    };
    this.#log.info(restart ? 'restarted' : 'started');
    if (restart) for (const kind of ['tools', 'prompts', 'resources'] as const) this.#hooks.listChanged(kind);
    return router;
  }

  /**
   * What a 2026 server says of itself (server/discover), or undefined for an older one: it
   * answers with an error (method not found, or its own way of saying "initialize first"), or
   * not at all within DISCOVER_MS. A refusal of the version it was asked in, naming 2026-07-28 as
   * supported, is asked once more; a login the server needs is not a sign of its era.
   */
  async #discover(router: Router): Promise<Params | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        const found = await router.request('server/discover', this.#enveloped({}), {
          timeoutMs: Math.min(this.config.startupTimeoutMs, DISCOVER_MS),
        });
        const versions = found.supportedVersions;
        return Array.isArray(versions) && versions.includes(MODERN) ? found : undefined;
      } catch (err) {
        if (this.#remote?.needsLogin(err) || (err instanceof LocalError && err.code === RPC.connectionClosed)) throw err;
        const supported = err instanceof RpcError && err.code === UNSUPPORTED_VERSION ? (err.data as { supported?: unknown } | undefined)?.supported : this.#remote?.unsupportedVersion(err);
        if (attempt === 1 && Array.isArray(supported) && supported.includes(MODERN)) continue;
        this.#log.debug(`server/discover: ${errorMessage(err)}; introducing it with initialize`);
        return undefined;
      }
    }
  }

  /**
   * A 2026 server tells its list changes only to a listener: mcpg listens for the lists the
   * server says change (its capabilities' listChanged), for as long as it is connected, and
   * listens again if the server ends the subscription.
   */
  #listen(router: Router): void {
    const caps = this.#capabilities as Record<string, { listChanged?: unknown } | undefined>;
    const notifications = Object.fromEntries((['tools', 'prompts', 'resources'] as const).filter((k) => caps[k]?.listChanged === true).map((k) => [`${k}ListChanged`, true]));
    if (!Object.keys(notifications).length) return;
    const again = () => {
      if (this.#router === router && !this.#closing) setTimeout(() => this.#listen(router), 1_000).unref();
    };
    router.request('subscriptions/listen', this.#enveloped({ notifications }), { timeoutMs: 2 ** 31 - 1 }).then(again, (err: unknown) => {
      this.#log.debug(`subscriptions/listen ended: ${errorMessage(err)}`);
      if (!(err instanceof RpcError && !(err instanceof LocalError))) again();
    });
  }

  /**
   * A line the server wrote to stderr. Lines from before its introduction (it boots while guards
   * load) are held, and logged once it is introduced: if start-up fails first (a guard, the
   * lock), the user reads that one error, not the output of a server that was never used.
   */
  #stderr(line: string): void {
    if (this.#held === undefined) return this.#log.info(`stderr: ${line}`);
    if (this.#held.length < HELD_LINES) this.#held.push(line);
  }

  /** The parameters a tool of this server declares for Mcp-Param-* headers (those it lists). */
  declaredHeaders(tool: string): ParamHeader[] | undefined {
    return this.#paramHeaders.get(tool);
  }

  /** The Mcp-Param-* headers of a tools/call, as its tool's inputSchema declares them. */
  #paramHeaderValues(message: Params): Record<string, string> {
    const params = isObject(message.params) ? message.params : undefined;
    const declared = message.method === 'tools/call' && params ? this.#paramHeaders.get(String(params.name)) : undefined;
    return declared ? paramHeaderValues(declared, params!.arguments) : {};
  }

  #failed(): void {
    this.#retryAt = Date.now() + BACKOFF_MS[Math.min(this.#failures++, BACKOFF_MS.length - 1)]!;
  }

  #makeTransport(oversize: (id: Id | undefined, limit: string) => void): ChildTransport | RemoteTransport {
    const c = this.config;
    if ('url' in c) return this.#remote!.remoteTransport(c, oversize, (m) => this.#paramHeaderValues(m));
    const transport = new ChildTransport(c.command, c.args, {
      // An allow-listed base environment (PATH, HOME, …) plus what the config gives, nothing else.
      env: { ...inheritedEnvironment(), ...c.env },
      cwd: c.cwd,
      maxBytes: c.maxMessageBytes,
    });
    transport.onoversize = oversize;
    let partial = '';
    transport.child.stderr?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      // A line is cut at STDERR_LINE: the server's diagnostics, not its data, are what is kept.
      partial = (lines.pop() ?? '').slice(0, STDERR_LINE);
      for (const line of lines) if (line.trim()) this.#stderr(line.slice(0, STDERR_LINE));
    });
    return transport;
  }
}

const isObjectSchema = (v: unknown) => isObject(v) && v.type === 'object';

/** Why a listed entry is no definition mcpg can pass on (undefined when it is one). */
function notADefinition(kind: Listing, item: unknown): string | undefined {
  if (!isObject(item)) return 'is not an object';
  const named = (field: string) => (typeof item[field] === 'string' && item[field] !== '' ? undefined : `has no ${field}`);
  if (kind === 'tools') {
    if (!isObjectSchema(item.inputSchema)) return 'has an inputSchema that is not an object schema ({"type": "object", ...})';
    if (item.outputSchema !== undefined && !isObjectSchema(item.outputSchema)) return 'has an outputSchema that is not an object schema';
  }
  if (kind === 'resources') return named('uri') ?? named('name');
  if (kind === 'resource_templates') return named('uriTemplate') ?? named('name');
  return named('name');
}

/**
 * Starts a server and lists what it offers, introduced as a client with every capability mcpg
 * relays (so it offers all it would offer any agent); its own requests are answered empty.
 */
export async function liveDefinitions(server: Server): Promise<Record<'tools' | 'prompts' | 'resource_templates', Params[]>> {
  const backend = new Backend(server, {
    listChanged: () => {},
    serverRequest: async (method) => {
      if (method === 'roots/list') return { roots: [] };
      throw new RpcError(RPC.methodNotFound, `mcpg is listing this server's definitions; it has no ${method}`);
    },
    log: () => {},
    updated: () => {},
    elicitationComplete: () => {},
  });
  try {
    await backend.start(RELAYED_CAPABILITIES);
    return { tools: await backend.list('tools'), prompts: await backend.list('prompts'), resource_templates: await backend.list('resource_templates') };
  } finally {
    await backend.close();
  }
}

/** Why a server did not start, in words that say what to check. */
function startError(err: unknown, config: Server, http: Awaited<ReturnType<typeof remote>> | undefined): string {
  if (err instanceof LocalError && err.code === RPC.requestTimeout) return `no answer to initialize within ${config.startupTimeoutMs / 1000}s`;
  if (err instanceof LocalError && err.code === RPC.connectionClosed) return 'it exited before answering initialize';
  const message = errorMessage(err);
  if ('url' in config && http) return http.httpError(err, config);
  return /ENOENT/.test(message) ? `command not found (${message})` : message;
}
