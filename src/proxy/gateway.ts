import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  type ServerNotification,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { Config } from '../config/load.ts';
import type { Mode } from '../config/schema.ts';
import { AgentState } from '../difc/evaluator.ts';
import { type Labels, format, union } from '../difc/labels.ts';
import type { BackendCall, Guard } from '../guard/guard.ts';
import { McpgError, errorMessage } from '../shared/errors.ts';
import { logger } from '../shared/log.ts';
import { VERSION } from '../shared/version.ts';
import { AuditLog } from './audit.ts';
import { Backend, type ListKind } from './backend.ts';
import { Catalog } from './catalog.ts';
import { type AgentCall, relayAgentCalls } from './relay.ts';
import { LineTransport } from './stdio.ts';
import { type Outcome, Pipeline, type Route } from './pipeline.ts';

/** Requests larger than this are refused before any guard or backend sees them. */
const MAX_REQUEST_BYTES = 8 * 1024 * 1024;

export interface GatewayOptions {
  config: Config;
  mode?: Mode;
  auditLog?: string;
  /** Makes the guard of one server; the gateway does not know how guards are loaded. */
  makeGuard: (server: Config['servers'][number]) => Promise<Guard>;
}

export interface Gateway {
  closed: Promise<void>;
  close(): Promise<void>;
}

const log = logger('gateway');

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { config } = options;
  const backends = config.servers.map((s) => new Backend(s));
  const closeAll = () => Promise.all(backends.map((b) => b.close()));
  const audit = options.auditLog ? new AuditLog(options.auditLog) : undefined;

  const routes = new Map<string, Route>();
  let agent: AgentState;
  try {
    // Backends boot in their own processes while guards compile here; a guard that cannot load
    // still stops the gateway (the backends are closed again) before anything is served.
    const starting = Promise.allSettled(backends.map((b) => b.start()));
    const guards = await Promise.all(backends.map((b) => options.makeGuard(b.config)));
    const started = await starting;
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    let initial: Labels = { secrecy: [], integrity: [] };
    for (const [i, backend] of backends.entries()) {
      const guard = guards[i]!;
      const policy = config.guards.find((g) => g.name === backend.config.guard)?.policy;
      const direct: BackendCall = (name, args, signal) => backend.request('tools/call', { name, arguments: args }, { signal });
      const answer = await guard.labelAgent(policy, direct).catch((err: unknown) => {
        throw new McpgError('GUARD_FAILED', `guard "${guard.name}" failed in label_agent for server "${backend.name}": ${errorMessage(err)}`);
      });
      initial = { secrecy: union(initial.secrecy, answer.agent.secrecy), integrity: union(initial.integrity, answer.agent.integrity) };
      routes.set(backend.name, { backend, guard, mode: answer.difcMode ?? options.mode ?? config.mode });
    }
    agent = new AgentState(initial);
    log.info(`agent labels: ${format(initial)}`);
  } catch (err) {
    await closeAll();
    throw err;
  }

  const catalog = new Catalog(backends.map((b) => b.name));
  await Promise.all(backends.flatMap((b) => (['tools', 'prompts', 'resources'] as const).map((k) => catalog.refresh(b, k))));
  const pipeline = new Pipeline(agent, audit);

  const server = new Server(
    { name: 'mcpg', version: VERSION },
    { capabilities: { tools: { listChanged: true }, prompts: { listChanged: true }, resources: { listChanged: true } } },
  );
  const notifyChanged = (kind: ListKind) =>
    kind === 'tools' ? server.sendToolListChanged() : kind === 'prompts' ? server.sendPromptListChanged() : server.sendResourceListChanged();
  for (const backend of backends) {
    backend.onListChanged = (kind) => {
      catalog
        .refresh(backend, kind)
        .then(() => notifyChanged(kind))
        .catch((err: unknown) => log.warn(`server "${backend.name}": refreshing ${kind} failed: ${errorMessage(err)}`));
    };
  }

  /**
   * Forwards one request to a backend with the agent's cancellation and progress: progress
   * notifications reach the agent before the result does.
   */
  const forward = async (backend: Backend, method: string, params: Record<string, unknown>, call: Omit<AgentCall, 'params'>) => {
    const sent: Promise<void>[] = [];
    const result = await backend.request(method, params, {
      signal: call.signal,
      ...(call.progressToken !== undefined && {
        onprogress: (p: { progress: number; total?: number; message?: string }) => void sent.push(call.sendProgress(p)),
      }),
    });
    await Promise.all(sent);
    return result;
  };
  /** The same shape for requests the SDK's Server dispatched (prompts, resources). */
  const fromSdk = (extra: Extra): Omit<AgentCall, 'params'> => {
    const token = extra._meta?.progressToken;
    return {
      signal: extra.signal,
      progressToken: token,
      sendProgress: (p) => extra.sendNotification({ method: 'notifications/progress', params: { ...p, progressToken: token } } as never),
    };
  };
  const routeOf = (name: string) => routes.get(name)!;

  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: catalog.tools() }));
  server.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts: catalog.prompts() }));
  server.setRequestHandler(ListResourcesRequestSchema, async () => ({ resources: catalog.resources() }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({ resourceTemplates: catalog.templates() }));

  // tools/call, the hot path, is relayed (relay.ts): mcpg forwards request and result untouched
  // and checks what it uses of them, here and in the pipeline.
  const callTool = async (call: AgentCall) => {
    const params = call.params;
    if (typeof params.name !== 'string') throw new McpError(ErrorCode.InvalidParams, 'tools/call needs a tool name');
    const target = catalog.tool(params.name);
    if (!target) throw new McpError(ErrorCode.InvalidParams, `unknown tool "${params.name}"`);
    const args = checkedArguments(params.arguments);
    const outcome = await toolError(pipeline.run({
      route: routeOf(target.backend.name),
      method: 'tools/call',
      tool: target.name,
      args,
      forward: () => forward(target.backend, 'tools/call', { name: target.name, arguments: args }, call),
    }));
    return outcome.error === undefined ? outcome.result : { isError: true, content: [{ type: 'text', text: outcome.error }] };
  };

  server.setRequestHandler(GetPromptRequestSchema, async (req, extra) => {
    const target = catalog.prompt(req.params.name);
    if (!target) throw new McpError(ErrorCode.InvalidParams, `unknown prompt "${req.params.name}"`);
    const params = { name: target.name, arguments: req.params.arguments ?? {} };
    return resultOrError(
      await pipeline.run({
        route: routeOf(target.backend.name),
        method: 'prompts/get',
        tool: 'prompts/get',
        args: params,
        forward: () => forward(target.backend, 'prompts/get', params, fromSdk(extra)),
      }),
    );
  });

  server.setRequestHandler(ReadResourceRequestSchema, async (req, extra) => {
    const backend = catalog.resource(req.params.uri);
    if (!backend) throw new McpError(ErrorCode.InvalidParams, `no server offers resource "${req.params.uri}"`);
    const params = { uri: req.params.uri };
    return resultOrError(
      await pipeline.run({
        route: routeOf(backend.name),
        method: 'resources/read',
        tool: 'resources/read',
        args: params,
        forward: () => forward(backend, 'resources/read', params, fromSdk(extra)),
      }),
    );
  });

  // The agent closing our stdin ends the session: the transport closes, and so does the server.
  const transport = new LineTransport(process.stdin, process.stdout, { maxBytes: MAX_REQUEST_BYTES, answerBadInput: true });
  await server.connect(transport);
  relayAgentCalls(transport, callTool);

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await closeAll();
      await server.close().catch(() => {});
      audit?.close();
    })());
  const closed = new Promise<void>((resolve) => {
    server.onclose = () => void close().then(resolve);
  });
  log.info(`serving ${catalog.tools().length} tools from ${backends.length} servers`);
  return { closed, close };
}

function checkedArguments(args: unknown): Record<string, unknown> {
  if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args))) {
    throw new McpError(ErrorCode.InvalidParams, 'tools/call arguments must be an object');
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

function resultOrError(outcome: Outcome) {
  if (outcome.error !== undefined) throw new McpError(ErrorCode.InvalidRequest, outcome.error);
  return outcome.result;
}
