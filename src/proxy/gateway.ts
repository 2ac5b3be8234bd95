import { channel } from 'node:diagnostics_channel';
import type { Config } from '../config/load.ts';
import type { Mode } from '../config/schema.ts';
import { AgentState } from '../difc/evaluator.ts';
import { type Labels, format, union } from '../difc/labels.ts';
import type { BackendCall, Guard } from '../guard/guard.ts';
import { SERVING } from '../shared/channels.ts';
import { McpgError, errorMessage } from '../shared/errors.ts';
import { RequestStates } from './protocol.ts';
import type { Rounds } from './rounds.ts';
import { logger } from '../shared/log.ts';
import { type ServerPins, serverDigest } from '../supply/lock.ts';
import { MemoryState } from '../state/memory.ts';
import type { SharedState } from '../state/shared.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { Tracing } from '../observe/traces.ts';
import { AuditLog } from './audit.ts';
import { Backend, type ListKind, type ServerRequest, relayed } from './backend.ts';
import { Catalog } from './catalog.ts';
import { AgentPolicy } from './agent-policy.ts';
import { HostTools } from './host-tools.ts';
import { pinMode } from './pins.ts';
import type { Id, Params, RequestContext } from './router.ts';
import { RPC, RpcError } from './router.ts';
import type { Awaitable } from '../shared/awaitable.ts';

export interface GatewayOptions {
  config: Config;
  mode?: Mode;
  auditLog?: string;
  /** Makes the guard of one server; the gateway does not know how guards are loaded. */
  makeGuard: (server: Config['servers'][number]) => Promise<Guard>;
  /** Pinned definitions per server, from the lock (`mcpg tools lock`). */
  pins?: Record<string, ServerPins>;
}

/** A server as a session sees it: where calls go, who labels them, and in which mode. */
export interface Route {
  backend: Backend;
  guard: Guard;
  mode: Mode;
  /** Tools the guard's backend calls that mcpg answers itself (host-tools.ts). */
  hostTools?: { names: readonly string[]; tools: HostTools };
  /** A forbidden write: denied, or put to the human (`on_violation = "ask"`). */
  onViolation?: 'deny' | 'ask';
}

/** What the guards' label_agent made: each server's route, and the labels an agent starts with. */
export interface Labeled {
  routes: Map<string, Route>;
  initial: Labels;
}

/** What the gateway asks of a session (an agent's connection): the servers' own messages. */
export interface Agent {
  /** The authenticated agent the session belongs to. */
  readonly agentName: string;
  /** A request from a server to its client; the session whose call it serves answers it. */
  serverRequest(server: string, method: ServerRequest, params: Params, context: RequestContext): Promise<unknown>;
  serverLog(server: string, params: Params): void;
  resourceUpdated(server: string, params: Params): Promise<void>;
  /** A URL-mode elicitation has completed: the session that was shown it hears its id, nothing else. */
  elicitationComplete(server: string, elicitationId: unknown): void;
  listChanged(server: string, kind: ListKind): void;
  /** Has this session a call in flight on that server? */
  calling(server: string): boolean;
}

const log = logger('gateway');
/** Where the gateway says that it serves (src/sea.ts listens, to let V8 optimize sooner from then on). */
const serving = channel(SERVING);
/** The agent's labels are made this long after start-up at the latest (see `labeled`). */
const LABELS_AFTER_MS = 100;

/**
 * What every agent's session shares: the backends (one process per server), the guards, the
 * catalog of what the servers offer, the pins, the audit log. Backends spawn at once and boot
 * while guards load; they are introduced to their servers (initialize) with the client
 * capabilities of the first agent that arrives (`start`). The routes and the labels an agent
 * starts with come from the guards' label_agent, made once, when a call first needs them.
 */
export class Gateway {
  readonly config: Config;
  readonly catalog: Catalog;
  readonly backends: Backend[];
  readonly audit?: AuditLog;
  /** Servers waiting for `mcpg auth login`: left out, each with the message that says so. */
  readonly needsLogin = new Map<string, string>();
  /** Seals the requestState mcpg gives 2026 agents (a key of this process's: a restart ends their rounds). */
  /** Seals 2026 requestStates; its key is the deployment's when replicas share a store (start()). */
  requestStates = new RequestStates();
  /**
   * 2026 agents' requests waiting for their next try, by the id their work runs under: a retry
   * may come on another connection (over HTTP, each request is one), so they belong to the gateway.
   */
  readonly rounds = new Map<Id, Rounds>();
  readonly #options: GatewayOptions;
  readonly #guards: Promise<Guard[]>;
  readonly #hosted = new HostTools();
  readonly #sessions = new Set<Agent>();
  readonly #agents = new Map<string, AgentState>();
  readonly #policies = new Map<string, AgentPolicy>();
  /** How long a call may stay counted in flight: the longest any server's may take (a dead replica's calls lapse then). */
  readonly #callLapseMs: number;
  /** Prometheus metrics, where something serves them (`mcpg serve`). */
  metrics?: Metrics;
  /** OpenTelemetry traces, where the config names an OTLP endpoint ([gateway.opentelemetry]). */
  tracing?: Tracing;
  /** What replicas share ([gateway] state); this process's memory until start() opens the store. */
  state: SharedState = new MemoryState();
  /** Servers with per_agent = true: each agent's own process, by server and agent. */
  readonly #perAgent = new Map<string, Map<string, Backend>>();
  #clientCapabilities: Params = {};
  #starting?: Promise<void>;
  readonly #started = Promise.withResolvers<void>();
  #ready = false;
  #labeled?: Promise<Labeled>;
  #closing?: Promise<void>;
  #auditIds = 0;
  /** Something that ended the gateway other than close() (a guard that could not start). */
  #failure?: unknown;
  #onFailure?: (err: unknown) => void;

  constructor(options: GatewayOptions) {
    const { config } = options;
    this.#started.promise.catch(() => {});
    this.#options = options;
    this.config = config;
    this.#callLapseMs = Math.max(0, ...config.servers.map((s) => s.maxTotalMs));
    this.audit = options.auditLog ? new AuditLog(options.auditLog) : undefined;
    this.catalog = new Catalog(
      config.servers.map((s) => s.name),
      (name) => {
        const server = config.servers.find((s) => s.name === name)!;
        const pins = options.pins?.[name];
        // Pins recorded for another command (or url) are no pins for this one.
        const valid = pins && pins.server === serverDigest(server) ? pins : undefined;
        if (pins && !valid) log.warn(`server "${name}": its pins were recorded for another command or url; run \`mcpg tools lock --server ${name}\``);
        return { mode: pinMode(server, pins), pins: valid };
      },
    );
    this.backends = config.servers.map((s) => {
      const backend: Backend = new Backend(s, {
        listChanged: (kind) => void this.#refresh(backend, kind),
        ...this.#hooks(s.name),
      });
      return backend;
    });
    for (const b of this.backends) b.spawn();
    this.#guards = Promise.all(config.servers.map((s) => options.makeGuard(s)));
    // A guard that cannot load ends start-up at once, before any agent arrives.
    this.#guards.catch((err: unknown) => this.#started.reject(err));
  }

  /**
   * Introduces the servers as clients with these capabilities (those the first agent declared
   * that mcpg relays) and lists what they offer. Once: later calls share the first. A guard or
   * server that cannot start rejects it; a server waiting for a login is left out instead.
   */
  start(clientCapabilities: Params): Promise<void> {
    this.#starting ??= (async () => {
      // The first agent's: every process of a server (per_agent ones too) is introduced with them.
      this.#clientCapabilities = relayed(clientCapabilities);
      // Loaded only where replicas share a store, so that one process does not start a Redis client.
      if (this.config.state) {
        this.state = new (await import('../state/redis.ts')).RedisState(this.config.state);
        // One key for all replicas: a state one sealed, another recognizes (and says where it belongs).
        const key = await this.state.secret('request-state').catch((err: unknown) => void log.warn(`the shared requestState key: ${errorMessage(err)}`));
        if (key) this.requestStates = new RequestStates(key);
      }
      if (this.config.opentelemetry) this.tracing = new (await import('../observe/traces.ts')).Tracing(this.config.opentelemetry);
      await this.#guards;
      const started = await Promise.allSettled(this.backends.map((b) => b.start(this.#clientCapabilities)));
      const failed = started.filter((s, i): s is PromiseRejectedResult => s.status === 'rejected' && !this.#leftForLogin(this.backends[i]!.name, s.reason));
      if (failed.length) throw failed[0]!.reason;
      await Promise.all(
        this.#serving().flatMap((b) =>
          (['tools', 'prompts', 'resources'] as const).map((k) =>
            this.catalog.refresh(b, k).catch((err: unknown) => {
              if (!this.#leftForLogin(b.name, err)) throw err;
            }),
          ),
        ),
      );
      log.info(`serving ${this.catalog.tools().length} tools from ${this.#serving().length} servers`);
      setTimeout(() => void this.labeled().catch(() => {}), LABELS_AFTER_MS).unref();
    })();
    this.#starting.then(() => {
      this.#ready = true;
      this.#started.resolve();
      serving.publish(this);
    }, this.#started.reject);
    return this.#starting;
  }

  /** Settles when start() has: every request but initialize and ping waits for it. */
  get started(): Promise<void> {
    return this.#started.promise;
  }

  /** Whether start() has succeeded (then a request need not wait a turn for `started`). */
  get ready(): boolean {
    return this.#ready;
  }

  /**
   * The routes and the labels an agent starts with, from every guard's label_agent: made when
   * first wanted (a call; an agent that has its tool list; LABELS_AFTER_MS after start-up),
   * since a Go guard's start and label_agent take tens of milliseconds of CPU that initialize
   * and the lists need not wait for. A guard that fails here ends the gateway.
   */
  labeled(): Promise<Labeled> {
    this.#labeled ??= this.#started.promise.then(() => this.#labelAgents());
    this.#labeled.catch((err: unknown) => this.#fail(err));
    return this.#labeled;
  }

  async #labelAgents(): Promise<Labeled> {
    const guards = await this.#guards;
    const routes = new Map<string, Route>();
    let initial: Labels = { secrecy: [], integrity: [] };
    for (const [i, backend] of this.backends.entries()) {
      if (this.needsLogin.has(backend.name)) continue;
      const guard = guards[i]!;
      const guardConfig = this.config.guards.find((g) => g.name === backend.config.guard);
      const direct: BackendCall = (name, args, cancel) => backend.request('tools/call', { name, arguments: args }, { cancel });
      const answer = await guard.labelAgent(guardConfig?.policy, direct).catch((err: unknown) => {
        if (err instanceof McpgError && err.code === 'CONFIG_INVALID') throw err;
        throw new McpgError('GUARD_FAILED', `guard "${guard.name}" failed in label_agent for server "${backend.name}": ${errorMessage(err)}`);
      });
      initial = { secrecy: union(initial.secrecy, answer.agent.secrecy), integrity: union(initial.integrity, answer.agent.integrity) };
      const hostTools = guardConfig && 'host_tools' in guardConfig && guardConfig.host_tools?.length ? guardConfig.host_tools : undefined;
      routes.set(backend.name, {
        backend,
        guard,
        mode: effectiveMode(backend.name, guard.name, this.#options.mode, this.config.mode, answer.difcMode),
        onViolation: backend.config.on_violation,
        ...(hostTools && { hostTools: { names: hostTools, tools: this.#hosted } }),
      });
    }
    log.info(`agent labels: ${format(initial)}`);
    return { routes, initial };
  }

  /** The tools a server waiting for a login offers in place of its own: one that says what to run. */
  loginTools(): { name: string; description: string; inputSchema: Params }[] {
    return [...this.needsLogin].map(([server, why]) => ({
      name: `${server}___login_required`,
      description: `${why}. Server "${server}" serves no tools until then; calling this tool returns the same message.`,
      inputSchema: { type: 'object', properties: {} },
    }));
  }

  /** What an agent may use ([gateway.agent_policies]), made once per agent. */
  policyOf(agent: string): AgentPolicy {
    let policy = this.#policies.get(agent);
    if (!policy) this.#policies.set(agent, (policy = new AgentPolicy(this.config.agentPolicies[agent])));
    return policy;
  }

  /**
   * An agent's labels: one state per authenticated agent, shared by all its sessions (two
   * connections of one agent share one taint; two agents never do), starting from `initial`.
   */
  labelsOf(agent: string, initial: Labels): AgentState {
    let state = this.#agents.get(agent);
    if (!state) this.#agents.set(agent, (state = new AgentState(initial, this.state, agent)));
    return state;
  }

  /**
   * An agent's labels now (`GET /reflect`): as the shared state has them, for any agent of the
   * deployment; in one process's memory, for an agent that has made a call.
   */
  async labelsNow(agent: string): Promise<Labels | undefined> {
    const state = this.#agents.get(agent) ?? (this.config.state ? this.labelsOf(agent, (await this.labeled()).initial) : undefined);
    await state?.refresh();
    return state?.labels;
  }

  /**
   * A call of this agent's begins: its release, or undefined past [gateway] max_concurrent_calls
   * in flight (over all its sessions, on every replica).
   */
  admit(agent: string): Awaitable<(() => void) | undefined> {
    return this.state.admit(agent, this.config.maxConcurrentCalls, this.#callLapseMs);
  }

  /** The audit id of the next decision: one sequence per gateway, whichever session decides. */
  nextAuditId(): number {
    return ++this.#auditIds;
  }

  join(session: Agent): void {
    this.#sessions.add(session);
  }

  leave(session: Agent): void {
    this.#sessions.delete(session);
  }

  /** Called once if something other than close() ends the gateway (a guard's label_agent failed). */
  onFailure(handler: (err: unknown) => void): void {
    this.#onFailure = handler;
    if (this.#failure !== undefined) handler(this.#failure);
  }

  /**
   * The process that serves this agent's calls to a server: the shared one, or with per_agent
   * the agent's own, started on its first call (the shared one still lists what the server
   * offers and answers the guards' label_agent).
   */
  backendFor(shared: Backend, agent: string): Backend {
    if (!shared.config.per_agent) return shared;
    let mine = this.#perAgent.get(shared.name);
    if (!mine) this.#perAgent.set(shared.name, (mine = new Map()));
    let backend = mine.get(agent);
    if (!backend) {
      backend = new Backend(shared.config, { listChanged: () => {}, ...this.#hooks(shared.name, agent) });
      mine.set(agent, backend);
      void backend.start(this.#clientCapabilities).catch((err: unknown) => log.warn(`server "${shared.name}" for agent "${agent}": ${errorMessage(err)}`));
    }
    return backend;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const r of this.rounds.values()) r.end('the gateway is closing');
      await Promise.all([...this.backends, ...[...this.#perAgent.values()].flatMap((m) => [...m.values()])].map((b) => b.close()));
      this.audit?.close();
      await this.state.close();
      await this.tracing?.shutdown();
    })();
    return this.#closing;
  }

  #fail(err: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = err;
    this.#onFailure?.(err);
  }

  #serving(): Backend[] {
    return this.backends.filter((b) => !this.needsLogin.has(b.name));
  }

  /** A server waiting for `mcpg auth login` is noted (said once) and left out; whether that was the error. */
  #leftForLogin(server: string, err: unknown): boolean {
    if (!(err instanceof McpgError && err.code === 'BACKEND_AUTH')) return false;
    if (!this.needsLogin.has(server)) log.warn(errorMessage(err));
    this.needsLogin.set(server, errorMessage(err));
    return true;
  }

  /** What a server's process says of its own accord, to the sessions it concerns (one agent's, with per_agent). */
  #hooks(server: string, agent?: string) {
    const mine = () => [...this.#sessions].filter((s) => agent === undefined || s.agentName === agent);
    return {
      serverRequest: (method: ServerRequest, params: Params, context: RequestContext) => this.#serverRequest(mine(), server, method, params, context),
      log: (params: Params) => {
        for (const session of mine()) session.serverLog(server, params);
      },
      updated: (params: Params) => {
        for (const session of mine()) void session.resourceUpdated(server, params);
      },
      elicitationComplete: (params: Params) => {
        for (const session of mine()) session.elicitationComplete(server, params.elicitationId);
      },
    };
  }

  async #refresh(backend: Backend, kind: ListKind): Promise<void> {
    try {
      await this.catalog.refresh(backend, kind);
      for (const session of this.#sessions) session.listChanged(backend.name, kind);
    } catch (err) {
      log.warn(`server "${backend.name}": refreshing ${kind} failed: ${errorMessage(err)}`);
    }
  }

  /**
   * A server asks its client for sampling, elicitation or roots. The one session with a call in
   * flight on that server answers (or the only session, over stdio). A server's request does not
   * say which call it is for: with calls of several sessions in flight it could be any of
   * theirs, and it is refused rather than shown to (and answered by) the wrong agent; so is one
   * that no call caused while several sessions are connected. `sessions`: those the process
   * serves (one agent's, for a per_agent process).
   */
  #serverRequest(sessions: Agent[], server: string, method: ServerRequest, params: Params, context: RequestContext): Promise<unknown> {
    const calling = sessions.filter((s) => s.calling(server));
    const session = calling.length === 1 ? calling[0] : !calling.length && sessions.length === 1 ? sessions[0] : undefined;
    if (!session) {
      const why = calling.length ? `calls of ${calling.length} sessions are in flight on this server, and the request does not say which it is for` : "no agent's call to this server is in flight";
      return Promise.reject(new RpcError(RPC.invalidRequest, `mcpg refused ${method}: ${why}`));
    }
    return session.serverRequest(server, method, params, context);
  }
}

/**
 * The mode a server runs in: the user's choice (--mode, then [gateway] mode) over the guard's
 * `difc_mode`, over strict. The user's intent is explicit; a guard's is a default it proposes.
 */
function effectiveMode(server: string, guard: string, cli: Mode | undefined, config: Mode | undefined, proposed: Mode | undefined): Mode {
  const chosen = cli ?? config;
  const mode = chosen ?? proposed ?? 'strict';
  const why = cli ? '--mode' : config ? '[gateway] mode' : proposed ? `guard "${guard}"'s difc_mode` : 'the default';
  if (chosen && proposed && proposed !== chosen) log.warn(`server "${server}": guard "${guard}" asks for ${proposed} mode; ${why} sets ${chosen}, which applies`);
  log.info(`server "${server}": ${mode} mode (${why})`);
  return mode;
}
