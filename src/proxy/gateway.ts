import type { Readable, Writable } from 'node:stream';
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import type { Config } from '../config/load.ts';
import type { Mode } from '../config/schema.ts';
import { AgentState } from '../difc/evaluator.ts';
import { type ServerPins, serverDigest } from '../supply/lock.ts';
import { type Labels, format, union } from '../difc/labels.ts';
import type { BackendCall, Guard } from '../guard/guard.ts';
import { McpgError, errorMessage } from '../shared/errors.ts';
import { logger } from '../shared/log.ts';
import { VERSION } from '../shared/version.ts';
import { AuditLog } from './audit.ts';
import { Backend, type ListKind, type ServerRequest } from './backend.ts';
import { Catalog } from './catalog.ts';
import { pinMode } from './pins.ts';
import { HostTools } from './host-tools.ts';
import { type Answer, type Outcome, Pipeline, type Route } from './pipeline.ts';
import { type Params, RPC, type RequestContext, Router, RpcError } from './router.ts';
import { LineTransport } from './stdio.ts';

export interface GatewayOptions {
  config: Config;
  /** The agent's side of the wire: mcpg reads requests here and writes only MCP there. */
  input: Readable;
  output: Writable;
  mode?: Mode;
  auditLog?: string;
  /** Makes the guard of one server; the gateway does not know how guards are loaded. */
  makeGuard: (server: Config['servers'][number]) => Promise<Guard>;
  /** Aborting it (a signal) ends the gateway, during start-up too. */
  signal?: AbortSignal;
  /** Pinned definitions per server, from the lock (`mcpg tools lock`). */
  pins?: Record<string, ServerPins>;
}

export interface Gateway {
  /**
   * Resolves when the session ends (the agent closed the connection, or close()); rejects with
   * the reason when something else ended it (a guard whose label_agent failed).
   */
  closed: Promise<void>;
  close(): Promise<void>;
}

/** What mcpg offers the agent: the aggregate of its servers, plus logging and completions. */
const CAPABILITIES = {
  tools: { listChanged: true },
  prompts: { listChanged: true },
  resources: { listChanged: true },
  logging: {},
  completions: {},
};
/** A server request needs the agent's client to have declared this capability. */
const NEEDS: Record<ServerRequest, string> = { 'sampling/createMessage': 'sampling', 'elicitation/create': 'elicitation', 'roots/list': 'roots' };

const log = logger('gateway');
/** The agent's labels are made this long after start-up at the latest (see `labeled`). */
const LABELS_AFTER_MS = 100;

/**
 * The gateway: one router facing the agent, one per backend, and the pipeline between them.
 * Start-up waits for the agent's `initialize`, since each backend is introduced to its server
 * as a client with the capabilities the agent declared; the servers' processes boot and guards
 * compile meanwhile. Resolves once serving (the guards' label_agent may still run: calls wait
 * for it); rejects (with everything it started stopped) when start-up fails or is interrupted by
 * the signal or the end of the input.
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { config } = options;
  const audit = options.auditLog ? new AuditLog(options.auditLog) : undefined;
  const transport = new LineTransport(options.input, options.output, { maxBytes: config.maxRequestBytes });
  const agent = new Router(transport, 'the agent');
  transport.onoversize = (id, limit) => agent.oversize(id, limit);
  agent.onproblem = (p) => log.warn(p);

  const catalog = new Catalog(
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
  const hosted = new HostTools();
  const routes = new Map<string, Route>();
  let pipeline!: Pipeline;
  let clientCapabilities: Params = {};
  const backends: Backend[] = config.servers.map(
    (s) =>
      new Backend(s, {
        listChanged: (kind) => void refreshList(backends.find((b) => b.name === s.name)!, kind),
        serverRequest: (method, params, context) => serverRequest(s.name, method, params, context),
        log: (params) => serverLog(s.name, params),
      }),
  );

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await Promise.all(backends.map((b) => b.close()));
      await agent.close().catch(() => {});
      audit?.close();
    })());
  /** Why start-up was cut short, if it was: that, not what failed because of it, is reported. */
  let interruption: McpgError | undefined;
  let interrupt!: (err: McpgError) => void;
  const interrupted = new Promise<never>((_, reject) => (interrupt = reject));
  interrupted.catch(() => {});
  const stopStarting = (why: string) => {
    interruption ??= new McpgError('INTERRUPTED', why);
    interrupt(interruption);
  };
  /** What ended the session when it was not the agent leaving (a guard that could not start). */
  let ended: unknown;
  const closed = new Promise<void>((resolve, reject) => {
    agent.onclose = () => {
      stopStarting('the agent closed the connection during start-up');
      void close().then(() => (ended === undefined ? resolve() : reject(ended)));
    };
  });
  closed.catch(() => {});
  const endSession = (err: unknown) => {
    ended ??= err;
    void agent.close().catch(() => {});
  };
  options.signal?.addEventListener(
    'abort',
    () => {
      stopStarting('interrupted during start-up');
      void close();
    },
    { once: true },
  );

  // ---- Start-up: servers' processes and guards start at once; the servers are introduced
  // when the agent says who it is.
  for (const b of backends) b.spawn();
  const guardsLoaded = Promise.all(config.servers.map((s) => options.makeGuard(s)));
  let initialized!: (capabilities: Params) => void;
  const agentArrived = new Promise<Params>((resolve) => (initialized = resolve));

  const needsLogin = new Map<string, string>();
  /** A server waiting for `mcpg auth login` is noted (said once) and left out; whether that was the error. */
  const leftForLogin = (server: string, err: unknown): boolean => {
    if (!(err instanceof McpgError && err.code === 'BACKEND_AUTH')) return false;
    if (!needsLogin.has(server)) log.warn(errorMessage(err));
    needsLogin.set(server, errorMessage(err));
    return true;
  };
  const loginTools = () =>
    [...needsLogin].map(([server, why]) => ({
      name: `${server}___login_required`,
      description: `${why}. Server "${server}" serves no tools until then; calling this tool returns the same message.`,
      inputSchema: { type: 'object', properties: {} },
    }));

  const ready = (async () => {
    const [, capabilities] = await Promise.all([guardsLoaded, agentArrived]);
    // Backends boot in their own processes; a guard or backend that cannot start stops the
    // gateway (the others are closed again) before anything is served.
    const started = await Promise.allSettled(backends.map((b) => b.start(capabilities)));
    // A server waiting for `mcpg auth login` does not hold up the others: it is left out, and
    // says what to run through a tool of its own (mcpg never waits for a browser).
    const failed = started.filter((s, i): s is PromiseRejectedResult => s.status === 'rejected' && !leftForLogin(backends[i]!.name, s.reason));
    if (failed.length) throw failed[0]!.reason;
    await Promise.all(
      backends
        .filter((b) => !needsLogin.has(b.name))
        .flatMap((b) =>
          (['tools', 'prompts', 'resources'] as const).map((k) =>
            catalog.refresh(b, k).catch((err: unknown) => {
              if (!leftForLogin(b.name, err)) throw err;
            }),
          ),
        ),
    );
    log.info(`serving ${catalog.tools().length} tools from ${backends.length - needsLogin.size} servers`);
  })();
  ready.catch(() => {});

  /**
   * The agent's labels, from every guard's label_agent, and the routes: each call waits for
   * them; initialize and the lists do not (a Go guard's start and label_agent take tens of ms
   * of CPU). They are made when first wanted: by a call, once the agent has its tool list (it
   * reads it before it calls), or LABELS_AFTER_MS after start-up at the latest. A guard that
   * cannot start ends the session.
   */
  let wantLabels!: () => void;
  const wanted = new Promise<void>((resolve) => (wantLabels = resolve));
  void ready.then(
    () => setTimeout(wantLabels, LABELS_AFTER_MS).unref(),
    () => {},
  );
  const labeled = (async () => {
    await ready;
    await wanted;
    const guards = await guardsLoaded;
    let initial: Labels = { secrecy: [], integrity: [] };
    for (const [i, backend] of backends.entries()) {
      if (needsLogin.has(backend.name)) continue;
      const guard = guards[i]!;
      const policy = config.guards.find((g) => g.name === backend.config.guard)?.policy;
      const direct: BackendCall = (name, args, signal) => backend.request('tools/call', { name, arguments: args }, { signal });
      const answer = await guard.labelAgent(policy, direct).catch((err: unknown) => {
        if (err instanceof McpgError && err.code === 'CONFIG_INVALID') throw err;
        throw new McpgError('GUARD_FAILED', `guard "${guard.name}" failed in label_agent for server "${backend.name}": ${errorMessage(err)}`);
      });
      initial = { secrecy: union(initial.secrecy, answer.agent.secrecy), integrity: union(initial.integrity, answer.agent.integrity) };
      const hostTools = config.guards.find((g) => g.name === backend.config.guard && 'host_tools' in g && g.host_tools?.length);
      routes.set(backend.name, {
        backend,
        guard,
        mode: effectiveMode(backend.name, guard.name, options.mode, config.mode, answer.difcMode),
        onViolation: backend.config.on_violation,
        ...(hostTools && 'host_tools' in hostTools && { hostTools: { names: hostTools.host_tools!, tools: hosted } }),
      });
    }
    log.info(`agent labels: ${format(initial)}`);
    pipeline = new Pipeline(new AgentState(initial), audit, ask);
  })();
  labeled.catch((err: unknown) => {
    // After start-up (whose failures startGateway reports itself): the session ends with it.
    ready.then(
      () => endSession(err),
      () => {},
    );
  });
  /** Every request but initialize and ping waits for start-up (clients should not send them sooner). */
  const served =
    <T>(handler: (params: Params, context: RequestContext) => Promise<T>) =>
    async (params: Params, context: RequestContext) => {
      await ready;
      return handler(params, context);
    };
  /** Requests that go through the pipeline wait for the agent's labels too. */
  const decided =
    <T>(handler: (params: Params, context: RequestContext) => Promise<T>) =>
    async (params: Params, context: RequestContext) => {
      wantLabels();
      await labeled;
      return handler(params, context);
    };

  // ---- The agent's requests.
  agent.onRequest('initialize', async (params) => {
    clientCapabilities = (params.capabilities ?? {}) as Params;
    initialized(mirrored(clientCapabilities));
    await ready.catch((err: unknown) => {
      throw new RpcError(RPC.internalError, `mcpg could not start: ${errorMessage(err)}`);
    });
    const asked = String(params.protocolVersion);
    return {
      protocolVersion: SUPPORTED_PROTOCOL_VERSIONS.includes(asked) ? asked : LATEST_PROTOCOL_VERSION,
      capabilities: CAPABILITIES,
      serverInfo: { name: 'mcpg', version: VERSION },
    };
  });
  agent.onRequest('ping', async () => ({}));
  agent.onRequest(
    'tools/list',
    served(async () => {
      setImmediate(wantLabels); // after this answer is on its way
      return { tools: [...catalog.tools(), ...loginTools()] };
    }),
  );
  agent.onRequest('prompts/list', served(async () => ({ prompts: catalog.prompts() })));
  agent.onRequest('resources/list', served(async () => ({ resources: catalog.resources() })));
  agent.onRequest('resources/templates/list', served(async () => ({ resourceTemplates: catalog.templates() })));

  // tools/call, the hot path: the request and the result pass through untouched, and mcpg
  // checks what it uses of them, here and in the pipeline.
  agent.onRequest(
    'tools/call',
    decided(async (params, context) => {
      if (typeof params.name !== 'string') throw new RpcError(RPC.invalidParams, 'tools/call needs a tool name');
      const target = catalog.tool(params.name);
      const note = catalog.pinNote(params.name);
      const login = needsLogin.get(params.name.split('___')[0]!);
      if (!target && login) return { isError: true, content: [{ type: 'text', text: login }] };
      if (!target) {
        if (!note?.withheld) throw new RpcError(RPC.invalidParams, `unknown tool "${params.name}"`);
        return {
          isError: true,
          content: [{ type: 'text', text: `mcpg withheld tool "${params.name}": ${note.why} in the lock; a person should review it (\`mcpg tools diff\`) and pin it (\`mcpg tools lock\`)` }],
        };
      }
      const args = checkedArguments(params.arguments);
      const outcome = await toolError(
        pipeline.run({
          route: routes.get(target.backend.name)!,
          method: 'tools/call',
          tool: target.name,
          args,
          ...(note && { note: `tool definition: ${note.why} (pin = "warn")` }),
          forward: () => forward(target.backend, 'tools/call', { ...params, name: target.name, arguments: args }, context),
        }),
      );
      return outcome.error === undefined ? outcome.result : { isError: true, content: [{ type: 'text', text: outcome.error }] };
    }),
  );

  agent.onRequest(
    'prompts/get',
    decided(async (params, context) => {
      const target = typeof params.name === 'string' ? catalog.prompt(params.name) : undefined;
      if (!target) throw new RpcError(RPC.invalidParams, `unknown prompt "${String(params.name)}"`);
      const forwarded = { ...params, name: target.name };
      return answered(await pipeline.run({ route: routes.get(target.backend.name)!, method: 'prompts/get', tool: 'prompts/get', args: forwarded, forward: () => forward(target.backend, 'prompts/get', forwarded, context) }));
    }),
  );

  agent.onRequest(
    'resources/read',
    decided(async (params, context) => {
      const backend = typeof params.uri === 'string' ? catalog.resource(params.uri) : undefined;
      if (!backend) throw new RpcError(RPC.invalidParams, `no server offers resource "${String(params.uri)}"`);
      return answered(await pipeline.run({ route: routes.get(backend.name)!, method: 'resources/read', tool: 'resources/read', args: params, forward: () => forward(backend, 'resources/read', params, context) }));
    }),
  );

  // Completions carry a server's data to the agent: they go through its guard, as reads do.
  agent.onRequest(
    'completion/complete',
    decided(async (params, context) => {
      const ref = (params.ref ?? {}) as { type?: unknown; name?: unknown; uri?: unknown };
      const target =
        ref.type === 'ref/prompt' && typeof ref.name === 'string'
          ? catalog.prompt(ref.name)
          : ref.type === 'ref/resource' && typeof ref.uri === 'string'
            ? catalog.template(ref.uri)
            : undefined;
      if (!target) throw new RpcError(RPC.invalidParams, 'completion/complete names no prompt or resource template that mcpg offers');
      if (!target.backend.capabilities.completions) return { completion: { values: [], hasMore: false } };
      const forwarded = { ...params, ref: ref.type === 'ref/prompt' ? { ...ref, name: target.name } : ref };
      return answered(await pipeline.run({ route: routes.get(target.backend.name)!, method: 'completion/complete', tool: 'completion/complete', args: forwarded, forward: () => forward(target.backend, 'completion/complete', forwarded, context) }));
    }),
  );

  agent.onRequest(
    'logging/setLevel',
    served(async (params) => {
      await Promise.all(backends.filter((b) => b.capabilities.logging).map((b) => b.request('logging/setLevel', params).catch((err: unknown) => log.warn(`server "${b.name}": logging/setLevel failed: ${errorMessage(err)}`))));
      return {};
    }),
  );
  agent.onNotification('notifications/roots/list_changed', () => {
    for (const b of backends) b.notify('notifications/roots/list_changed');
  });

  // ---- What the backends send of their own accord.
  async function refreshList(backend: Backend, kind: ListKind): Promise<void> {
    try {
      await catalog.refresh(backend, kind);
      await agent.notify(`notifications/${kind}/list_changed`);
    } catch (err) {
      log.warn(`server "${backend.name}": refreshing ${kind} failed: ${errorMessage(err)}`);
    }
  }

  /**
   * A server asks its client (the agent) for sampling, elicitation or roots. The request
   * carries the server's data to the agent and the answer back: it is labeled by the server's
   * guard like a call (the method is the tool name) and decided the same way.
   */
  async function serverRequest(server: string, method: ServerRequest, params: Params, context: RequestContext): Promise<unknown> {
    wantLabels();
    await labeled;
    if (!clientCapabilities[NEEDS[method]]) throw new RpcError(RPC.methodNotFound, `the agent's client does not support ${NEEDS[method]}`);
    const backend = backends.find((b) => b.name === server)!;
    const outcome = await toolError(
      pipeline.run({
        route: routes.get(server)!,
        method,
        tool: method,
        args: params,
        forward: () => agent.request(method, params, { signal: context.signal, timeoutMs: backend.config.maxTotalMs }),
      }),
    );
    if (outcome.error !== undefined) throw new RpcError(RPC.invalidRequest, outcome.error);
    return outcome.result;
  }

  /**
   * A server's log message reaches the agent, named after the server, only from a server with
   * no guard and while the agent carries no tags (the rule unlabeled data follows): no guard
   * has labeled what a log line may carry. Otherwise it stays in mcpg's log.
   */
  function serverLog(server: string, params: Params): void {
    const tags = pipeline?.agent.labels;
    if (!routes.get(server)?.guard.passthrough || !tags || tags.secrecy.length || tags.integrity.length) {
      log.debug(`server "${server}" logged: ${JSON.stringify(params).slice(0, 500)}`);
      return;
    }
    const logger = typeof params.logger === 'string' ? `${server}/${params.logger}` : server;
    void agent.notify('notifications/message', { ...params, logger }).catch(() => {});
  }

  /**
   * Puts a forbidden write to the human through the agent's client (MCP elicitation): "allow
   * once" or "deny". Without the capability, or without an answer in time, the write is denied.
   */
  async function ask(message: string): Promise<Answer> {
    if (!clientCapabilities.elicitation) return 'unsupported';
    try {
      const reply = await agent.request(
        'elicitation/create',
        { message, requestedSchema: { type: 'object', properties: { decision: { type: 'string', title: 'Decision', enum: ['allow once', 'deny'] } }, required: ['decision'] } },
        { timeoutMs: config.askTimeoutMs },
      );
      return reply.action === 'accept' && (reply.content as { decision?: unknown } | undefined)?.decision === 'allow once' ? 'allow' : 'deny';
    } catch (err) {
      return err instanceof RpcError && err.code === RPC.requestTimeout ? 'timeout' : 'deny';
    }
  }

  /** Forwards a request to a backend with the agent's cancellation; progress reaches the agent before the result. */
  async function forward(backend: Backend, method: string, params: Params, context: RequestContext): Promise<Params> {
    const sent: Promise<void>[] = [];
    const result = await backend.request(method, params, {
      signal: context.signal,
      ...(context.progressToken !== undefined && { onprogress: (p) => void sent.push(context.sendProgress(p)) }),
    });
    await Promise.all(sent);
    return result;
  }

  // The agent's side starts first: its initialize is what start-up waits for.
  await agent.start();
  try {
    await Promise.race([ready, interrupted]);
  } catch (err) {
    // Taken before closing: the close itself would read as the agent leaving.
    const cause = interruption ?? err;
    await close();
    throw cause;
  }
  return { closed, close };
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

/** The client capabilities a backend is introduced with: those the agent has that mcpg relays. */
function mirrored(capabilities: Params): Params {
  const out: Params = {};
  for (const key of ['sampling', 'elicitation', 'roots']) if (capabilities[key]) out[key] = capabilities[key];
  return out;
}

function checkedArguments(args: unknown): Record<string, unknown> {
  if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args))) {
    throw new RpcError(RPC.invalidParams, 'tools/call arguments must be an object');
  }
  return (args ?? {}) as Record<string, unknown>;
}

/** A backend that is down answers a tool call with an error result naming it, as a denial does. */
async function toolError(outcome: Promise<Outcome>): Promise<Outcome> {
  try {
    return await outcome;
  } catch (err) {
    if (err instanceof McpgError) return { error: err.message };
    throw err;
  }
}

function answered(outcome: Outcome): Params {
  if (outcome.error !== undefined) throw new RpcError(RPC.invalidRequest, outcome.error);
  return outcome.result;
}
