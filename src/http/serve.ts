import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { RELAYED_CAPABILITIES } from '../proxy/backend.ts';
import { SEPARATOR } from '../proxy/catalog.ts';
import { Gateway, type GatewayOptions } from '../proxy/gateway.ts';
import { MODERN, claimedVersion, modernErrorStatus, refusedModern } from '../proxy/protocol.ts';
import { type Params, RPC } from '../proxy/router.ts';
import { Session } from '../proxy/session.ts';
import { McpgError, errorMessage } from '../shared/errors.ts';
import { readNamedFile } from '../shared/files.ts';
import { logger } from '../shared/log.ts';
import { VERSION } from '../shared/version.ts';
import { Agents } from './agents.ts';
import { HttpTransport } from './transport.ts';

/** The version of gh-aw's MCP Gateway Specification whose HTTP interface `serve` follows. */
export const SPEC_VERSION = '1.17.0';
/** How long in-flight requests may take to finish once shutdown begins. */
const DRAIN_MS = 30_000;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

const log = logger('serve');

export interface ServeOptions extends GatewayOptions {
  /** HOST:PORT; port 0 picks a free one. */
  listen: string;
  /** `/mcp` with `<server>___<tool>` names, instead of `/mcp/<server>` with the server's own. */
  unified?: boolean;
  /** The host name clients reach mcpg by: Host and Origin must name it (or loopback). */
  domain?: string;
  tls?: { cert: string; key: string };
  /**
   * Called once listening, before /health says healthy, with the base URL agents use (the
   * domain's, when one is given): gh-aw-mcpg prints the client config here.
   */
  onListening?: (publicUrl: string) => void;
}

interface Entry {
  transport: HttpTransport;
  session: Session;
  agent: string;
  route: string;
  lastSeen: number;
}

export interface Served {
  url: string;
  /** Resolves when the gateway has shut down (POST /close, a signal, close()). */
  closed: Promise<void>;
  /** Stops accepting, lets calls in flight finish (up to a deadline), then closes the servers. */
  close(): Promise<void>;
}

/**
 * `mcpg serve`: the streamable HTTP front. One Gateway (servers, guards, catalog) for many
 * agents; one Session per MCP session, routed (`/mcp/<server>`) or unified (`/mcp`), belonging to
 * the agent its Authorization header names: an agent's labels are its own, shared by its
 * sessions, never by another agent's. What it reads of a request is bounded (size, time); Host
 * and Origin must name mcpg (DNS rebinding); `/health` says ready only once the servers and the
 * guards are up, and not ready while draining.
 */
export async function serve(options: ServeOptions): Promise<Served> {
  const { config } = options;
  const agents = new Agents(config.agents, config.oauth);
  const [host, port] = splitListen(options.listen);
  if (agents.anonymous && !LOOPBACK.has(host)) {
    throw new McpgError('CONFIG_INVALID', `${config.file}: [gateway] agents: none are named, so every caller would be one anonymous agent; that is allowed on a loopback address only (listening on ${host})`);
  }
  const gateway = new Gateway(options);
  const sessions = new Map<string, Entry>();
  const metrics = (gateway.metrics = new (await import('../observe/metrics.ts')).Metrics(() => sessions.size));
  const servers = new Set(config.servers.map((s) => s.name));
  let ready = false;
  let draining = false;
  let inFlight = 0;
  let closing: Promise<void> | undefined;
  const closed = Promise.withResolvers<void>();

  // Every server is introduced with every client capability mcpg relays: each agent's own
  // capabilities decide what of it reaches that agent (Session.serverRequest).
  await gateway.start(RELAYED_CAPABILITIES).catch(async (err: unknown) => {
    await gateway.close();
    throw err;
  });
  gateway.onFailure((err) => {
    log.error(`the gateway cannot go on: ${errorMessage(err)}`);
    void close();
  });

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    // Calls in flight are POSTs; a GET is a session's standing event stream, closed with it.
    if (req.method === 'POST') {
      inFlight++;
      res.on('close', () => inFlight--);
    }
    route(req, res).catch((err: unknown) => {
      log.error(`${req.method} ${req.url}: ${errorMessage(err)}`);
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  };
  const server: Server = options.tls ? createTlsServer({ cert: pem(options.tls.cert, '--tls-cert'), key: pem(options.tls.key, '--tls-key') }, handler) : createServer(handler);
  // Reading a request is bounded in time: its headers, and the whole request.
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new McpgError('CONFIG_INVALID', `cannot listen on ${options.listen}: ${errorMessage(err)}`)));
    server.listen(port, host, resolve);
  });
  const bound = (server.address() as AddressInfo).port;
  const scheme = options.tls ? 'https' : 'http';
  const url = `${scheme}://${hostPort(host, bound)}`;
  const allowedHosts = new Set([hostPort(host, bound), ...[...LOOPBACK].map((h) => hostPort(h, bound)), ...(options.domain ? [options.domain, hostPort(options.domain, bound)] : [])]);
  /** The address agents use (the domain, when one is configured). */
  const publicBase = options.domain ? `${scheme}://${hostPort(options.domain, bound)}` : url;
  options.onListening?.(publicBase);
  ready = true;
  log.info(`serving ${servers.size} servers on ${url}${options.unified ? '/mcp' : '/mcp/<server>'} for ${agents.anonymous ? 'an anonymous agent (loopback only)' : `${agents.names.length} agents`}`);

  const idle = setInterval(() => {
    const now = Date.now();
    for (const [id, e] of sessions) {
      if (now - e.lastSeen > config.sessionTimeoutMs) {
        log.info(`session ${id} of agent "${e.agent}" was idle for ${config.sessionTimeoutMs / 1000}s: closed`);
        void e.transport.close();
      }
    }
  }, Math.min(60_000, config.sessionTimeoutMs)).unref();

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The path as sent (no query); a path that is not one of the exact ones below is a 404.
    const path = (req.url ?? '/').split('?', 1)[0]!;
    // DNS rebinding: a page in a browser may reach 127.0.0.1 under another name; it cannot set Host.
    const origin = req.headers.origin;
    if (!allowedHosts.has(req.headers.host ?? '') || (origin !== undefined && origin !== 'null' && !allowedHosts.has(hostOf(origin)))) {
      return json(res, 403, { error: `mcpg serves ${[...allowedHosts][0]} only (Host ${req.headers.host ?? 'missing'}${origin ? `, Origin ${origin}` : ''})` });
    }
    if (path === '/health') return health(res);
    // Counts by server, tool and decision, and timings: nothing of an agent's or of the data.
    if (path === '/metrics' && req.method === 'GET') return void res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(await metrics.registry.metrics());
    // RFC 9728: where an agent learns which authorization server issues tokens for mcpg.
    if (config.oauth && /^\/\.well-known\/oauth-protected-resource(\/mcp(\/[^/]+)?)?$/.test(path)) {
      const resource = path.replace('/.well-known/oauth-protected-resource', '') || '/mcp';
      return json(res, 200, { resource: `${publicBase}${resource}`, authorization_servers: [config.oauth.issuer], bearer_methods_supported: ['header'] });
    }
    if (path.startsWith('/.well-known/')) return json(res, 404, { error: 'mcpg is not an authorization server' });
    const routed = /^\/mcp\/([^/]+)\/?$/.exec(path);
    const mcp = path === '/mcp' || path === '/mcp/' ? options.unified : routed ? !options.unified : false;
    if (path !== '/close' && path !== '/reflect' && !mcp) return json(res, 404, { error: `no such endpoint: ${path}` });
    if (draining && path !== '/close') return json(res, 503, { error: 'the gateway is shutting down' });
    const caller = await agents.identify(req.headers.authorization);
    if ('status' in caller) {
      if (config.oauth && caller.status === 401) res.setHeader('www-authenticate', `Bearer resource_metadata="${publicBase}/.well-known/oauth-protected-resource", error="invalid_token"`);
      return json(res, caller.status, { error: caller.error });
    }
    if (path === '/close') return closeEndpoint(req, res);
    if (path === '/reflect') {
      const labels = await gateway.labelsNow(caller.agent).catch((err: unknown) => err as Error);
      return labels instanceof Error ? json(res, 503, { error: labels.message }) : json(res, 200, { agent: caller.agent, labels: labels ?? null });
    }
    const target = routed?.[1] && decodeURIComponent(routed[1]);
    if (target !== undefined && !servers.has(target)) return json(res, 404, { error: `no server named "${target}"` });
    if (target !== undefined && !gateway.policyOf(caller.agent).server(target)) return json(res, 403, { error: `agent "${caller.agent}" may not use server "${target}" ([gateway.agent_policies])` });
    return mcpRequest(req, res, caller.agent, target);
  }

  async function mcpRequest(req: IncomingMessage, res: ServerResponse, agent: string, target: string | undefined): Promise<void> {
    const routeKey = target ?? '';
    const id = req.headers['mcp-session-id'];
    const entry = typeof id === 'string' ? (sessions.get(id) ?? (await takenUp(id, agent, routeKey))) : undefined;
    // Another agent's session is no session of this one's: the same answer as an unknown id.
    if (typeof id === 'string' && (!entry || entry.agent !== agent || entry.route !== routeKey)) return rpcError(res, 404, -32001, 'Session not found');
    if (entry) entry.lastSeen = Date.now();
    if (req.method === 'GET') {
      if (!entry) return rpcError(res, 400, RPC.invalidRequest, 'Bad Request: Mcp-Session-Id header is required');
      if (!/text\/event-stream/.test(req.headers.accept ?? '')) return rpcError(res, 406, RPC.invalidRequest, 'Not Acceptable: the client must accept text/event-stream');
      return entry.transport.handleGet(res);
    }
    if (req.method === 'DELETE') {
      if (!entry) return rpcError(res, 400, RPC.invalidRequest, 'Bad Request: Mcp-Session-Id header is required');
      await gateway.state.forgetSession(entry.transport.sessionId!).catch(() => {});
      await entry.transport.close();
      return json(res, 200, {});
    }
    if (req.method !== 'POST') return json(res, 405, { error: `${req.method} is not served here` });
    if (!/application\/json/i.test(req.headers['content-type'] ?? '')) return rpcError(res, 415, RPC.invalidRequest, 'Unsupported Media Type: the body must be application/json');
    const read = await readBody(req, res, config.maxRequestBytes);
    if ('status' in read) return rpcError(res, read.status, read.code, read.error);
    // A 2026 request is checked at the door: its version, its envelope, its headers against its body.
    const refused = refusedModern(req.headers, read.body, (name) => {
      const tool = gateway.catalog.tool(target === undefined ? name : `${target}${SEPARATOR}${name}`);
      return tool?.backend.declaredHeaders(tool.name);
    });
    if (refused) {
      const id = (read.body as { id?: unknown }).id ?? null;
      return json(res, refused.status, { jsonrpc: '2.0', id, error: { code: refused.code, message: refused.message, ...(refused.data !== undefined && { data: refused.data }) } });
    }
    if (entry) return entry.transport.handlePost(res, read.body);
    const initialize = isInitialize(read.body);
    // A call without a session (a 2026 request; gh-aw-mcpg answers these for older clients that
    // skip initialize): served by a session of this request alone. A 2026 error says its kind in
    // the HTTP status too.
    const modern = claimedVersion((read.body as { params?: Params }).params) === MODERN;
    const { transport } = await open(initialize ? randomUUID() : undefined, agent, routeKey, modern);
    if (!transport.sessionId) res.on('close', () => void transport.close());
    else {
      // Any replica may take the session up (the shared state keeps how it began).
      const params = (Array.isArray(read.body) ? read.body : [read.body]).find((m: { method?: unknown }) => m?.method === 'initialize')?.params ?? {};
      await gateway.state.rememberSession(transport.sessionId, { agent, route: routeKey, initialize: params }, config.sessionTimeoutMs).catch((err: unknown) => log.warn(`session ${transport.sessionId}: ${errorMessage(err)}`));
    }
    transport.handlePost(res, read.body);
  }

  /** A session on this replica, with an id (older protocol: kept until it closes) or for one request. */
  async function open(id: string | undefined, agent: string, routeKey: string, modern = false): Promise<Entry> {
    const transport = new HttpTransport(id, modern ? modernErrorStatus : undefined);
    const session = new Session(gateway, transport, { agent, server: routeKey || undefined, maxCalls: config.maxCallsPerSession });
    const entry = { transport, session, agent, route: routeKey, lastSeen: Date.now() };
    // The router owns the transport's callbacks; the session says when it has closed.
    void session.closed.then(() => transport.sessionId && sessions.delete(transport.sessionId));
    if (id) sessions.set(id, entry);
    await session.start();
    return entry;
  }

  /**
   * An older session this replica has not seen, begun on another (behind a load balancer): taken
   * up here, as it began, when the shared state knows it as this agent's on this route.
   */
  async function takenUp(id: string, agent: string, routeKey: string): Promise<Entry | undefined> {
    if (!config.state) return undefined;
    const record = await gateway.state.session(id).catch((err: unknown) => void log.warn(`session ${id}: ${errorMessage(err)}`));
    if (!record || record.agent !== agent || record.route !== routeKey) return undefined;
    const entry = sessions.get(id) ?? (await open(id, agent, routeKey));
    await entry.session.initialize(record.initialize);
    log.info(`session ${id} of agent "${agent}" taken up from the shared state`);
    return entry;
  }

  function health(res: ServerResponse): void {
    const healthy = ready && !draining;
    const status = Object.fromEntries(
      gateway.backends.map((b) => [b.name, { status: gateway.needsLogin.has(b.name) ? 'error' : b.running ? 'running' : 'stopped', ...(b.running && { uptime: b.uptimeSeconds }) }]),
    );
    json(res, healthy ? 200 : 503, { status: healthy ? 'healthy' : 'unhealthy', specVersion: SPEC_VERSION, gatewayVersion: VERSION, servers: status });
  }

  function closeEndpoint(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'POST') return json(res, 405, { error: 'POST /close' });
    if (closing) return json(res, 410, { error: 'Gateway has already been closed' });
    json(res, 200, { status: 'closed', message: 'Gateway shutdown initiated', serversTerminated: gateway.backends.length });
    res.on('finish', () => void close());
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      // Not ready (a load balancer stops sending), new MCP requests 503, /close 410; the calls in
      // flight finish, up to a deadline; then the sessions, the servers and the listener close.
      draining = true;
      clearInterval(idle);
      const deadline = Date.now() + DRAIN_MS;
      while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      for (const e of sessions.values()) await e.transport.close().catch(() => {});
      await gateway.close();
      server.close();
      server.closeAllConnections();
      log.info('closed');
      closed.resolve();
    })();
    return closing;
  }

  return { url, closed: closed.promise, close };
}

/** A certificate or key file: PEM of a few kilobytes. */
const pem = (file: string, flag: string) => readNamedFile(file, 1024 * 1024, 'USAGE', flag);

function splitListen(listen: string): [string, number] {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(listen);
  const port = Number(m?.[2]);
  if (!m || port > 65_535) throw new McpgError('USAGE', `--listen ${listen}: expected HOST:PORT (for example 127.0.0.1:3000)`);
  return [m[1]!.replace(/^\[|\]$/g, ''), port];
}

/** `host:port` as a URL or a Host header writes it (an IPv6 address in brackets). */
function hostPort(host: string, port: number): string {
  return `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}

function hostOf(origin: string): string {
  try {
    return new URL(origin).host;
  } catch {
    return '';
  }
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
}

function rpcError(res: ServerResponse, status: number, code: number, message: string): void {
  json(res, status, { jsonrpc: '2.0', error: { code, message }, id: null });
}

const isInitialize = (body: unknown): boolean =>
  (Array.isArray(body) ? body : [body]).some((m) => typeof m === 'object' && m !== null && (m as { method?: unknown }).method === 'initialize');

/**
 * A request body, read within `max` bytes and parsed as JSON. Past `max` nothing more is read:
 * the refusal is answered and the connection closed after it.
 */
function readBody(req: IncomingMessage, res: ServerResponse, max: number): Promise<{ body: unknown } | { status: number; code: number; error: string }> {
  const tooLarge = () => {
    req.pause();
    res.setHeader('connection', 'close');
    res.on('finish', () => req.socket.destroy());
    return { status: 413, code: RPC.invalidRequest, error: `requests larger than ${max} bytes are refused` };
  };
  if (Number(req.headers['content-length'] ?? 0) > max) return Promise.resolve(tooLarge());
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= max) return void chunks.push(chunk);
      req.off('data', onData);
      req.off('end', onEnd);
      resolve(tooLarge());
    };
    const onEnd = () => {
      try {
        resolve({ body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      } catch {
        resolve({ status: 400, code: RPC.parseError, error: 'Parse error: the body is not JSON' });
      }
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', () => resolve({ status: 400, code: RPC.invalidRequest, error: 'the request was not read whole' }));
  });
}
