import { getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { LoginRequired, oauthProvider } from '../auth/provider.ts';
import { TokenStore } from '../auth/store.ts';
import type { Server } from '../config/load.ts';
import { McpgError, errorMessage } from '../shared/errors.ts';
import { logger } from '../shared/log.ts';
import { VERSION } from '../shared/version.ts';
import { type Params, type Progress, RPC, type RequestContext, Router, RpcError } from './router.ts';
import { ChildTransport } from './stdio.ts';

/** Wait before restart N+1 after N failures in a row: a crash restarts at once, a crash loop backs off. */
const BACKOFF_MS = [0, 1_000, 2_000, 5_000, 10_000, 30_000];
/** A backend that stayed up this long has recovered: its failure count starts again. */
const HEALTHY_MS = 60_000;

export type ListKind = 'tools' | 'prompts' | 'resources';

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
}

export interface CallOptions {
  signal?: AbortSignal;
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
  #transport?: ChildTransport | StreamableHTTPClientTransport | SSEClientTransport;
  #capabilities: Params = {};
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

  /** What the server declared at initialize. */
  get capabilities(): { tools?: unknown; prompts?: unknown; resources?: unknown; logging?: unknown; completions?: unknown } {
    return this.#capabilities;
  }

  /** Starts the backend as a client with these capabilities; a failure names the server. */
  async start(clientCapabilities: Params): Promise<void> {
    this.#clientCapabilities = clientCapabilities;
    await this.#connected();
  }

  async request(method: string, params: Params | undefined, options: CallOptions = {}): Promise<Params> {
    const router = await this.#connected();
    try {
      return await router.request(method, params, {
        ...options,
        timeoutMs: this.config.toolTimeoutMs,
        maxTotalMs: this.config.maxTotalMs,
      });
    } catch (err) {
      if (err instanceof RpcError && err.code === RPC.connectionClosed) {
        throw new McpgError('BACKEND_UNAVAILABLE', `server "${this.name}" exited during ${method}; it restarts on next use`);
      }
      if (err instanceof RpcError && err.code === RPC.requestTimeout && err.message !== 'cancelled') {
        throw new McpgError('BACKEND_UNAVAILABLE', err.message);
      }
      // A step-up (403 insufficient_scope) or a refresh the server refused: a person must log in.
      if (err instanceof LoginRequired) throw new McpgError('BACKEND_AUTH', err.message);
      if ('url' in this.config && refusedStatus(err)) {
        throw new McpgError('BACKEND_AUTH', `server "${this.name}": ${httpError(err, this.config)}`);
      }
      throw err;
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

  async #connect(): Promise<Router> {
    const restart = this.#lastError !== '';
    const transport = this.#makeTransport();
    this.#transport = transport;
    const router = new Router(transport, `server "${this.name}"`);
    router.onproblem = (p) => this.#log.warn(p);
    if (transport instanceof ChildTransport) transport.onoversize = (id, limit) => router.oversize(id, limit);
    router.onRequest('ping', async () => ({}));
    for (const method of SERVER_REQUESTS) router.onRequest(method, (params, context) => this.#hooks.serverRequest(method, params, context));
    for (const kind of ['tools', 'prompts', 'resources'] as const) router.onNotification(`notifications/${kind}/list_changed`, () => this.#hooks.listChanged(kind));
    router.onNotification('notifications/message', (params) => this.#hooks.log(params));
    try {
      await router.start();
      const init = await router.request(
        'initialize',
        { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: this.#clientCapabilities, clientInfo: { name: 'mcpg', version: VERSION } },
        { timeoutMs: this.config.startupTimeoutMs },
      );
      const version = String(init.protocolVersion);
      if (!SUPPORTED_PROTOCOL_VERSIONS.includes(version)) throw new Error(`it speaks MCP protocol version "${version}", which mcpg does not`);
      // HTTP transports send the negotiated version in a header on every later request.
      if (!(transport instanceof ChildTransport)) transport.setProtocolVersion(version);
      this.#capabilities = (init.capabilities ?? {}) as Params;
      await router.notify('notifications/initialized');
    } catch (err) {
      await router.close().catch(() => {});
      await transport.close().catch(() => {});
      this.#lastError = startError(err, this.config);
      this.#failed();
      if (err instanceof LoginRequired) throw new McpgError('BACKEND_AUTH', err.message, { cause: err });
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

  #failed(): void {
    this.#retryAt = Date.now() + BACKOFF_MS[Math.min(this.#failures++, BACKOFF_MS.length - 1)]!;
  }

  #makeTransport(): ChildTransport | StreamableHTTPClientTransport | SSEClientTransport {
    const c = this.config;
    if ('url' in c) {
      // A server given its credentials in a header is not an OAuth resource to mcpg; any other
      // that answers 401 gets an OAuth client with the tokens `mcpg auth login` stored.
      const ownCredentials = Object.keys(c.headers).some((h) => h.toLowerCase() === 'authorization');
      const options = { requestInit: { headers: c.headers }, ...(!ownCredentials && { authProvider: oauthProvider(c, new TokenStore()) }) };
      // The legacy HTTP+SSE transport for servers that speak nothing newer (type = "sse").
      if (c.type === 'sse') return new SSEClientTransport(new URL(c.url), options);
      return new StreamableHTTPClientTransport(new URL(c.url), options);
    }
    const transport = new ChildTransport(c.command, c.args, {
      // An allow-listed base environment (PATH, HOME, …) plus what the config gives, nothing else.
      env: { ...getDefaultEnvironment(), ...c.env },
      cwd: c.cwd,
      maxBytes: c.maxMessageBytes,
    });
    let partial = '';
    transport.child.stderr?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) this.#log.info(`stderr: ${line}`);
    });
    return transport;
  }
}

/** Why a server did not start, in words that say what to check. */
function startError(err: unknown, config: Server): string {
  if (err instanceof RpcError && err.code === RPC.requestTimeout) return `no answer to initialize within ${config.startupTimeoutMs / 1000}s`;
  if (err instanceof RpcError && err.code === RPC.connectionClosed) return 'it exited before answering initialize';
  const message = errorMessage(err);
  if ('url' in config) return httpError(err, config);
  return /ENOENT/.test(message) ? `command not found (${message})` : message;
}

/** The HTTP status of a refusal of mcpg's credentials (401 or 403), if that is what `err` is. */
function refusedStatus(err: unknown): string | undefined {
  // The SDK's StreamableHTTPError carries the status as `code`; other errors only say it.
  const code = (err as { code?: unknown }).code;
  if (code === 401 || code === 403) return String(code);
  return /\b(401|403)\b/.exec(errorMessage(err))?.[1] ?? (err instanceof UnauthorizedError ? '401' : undefined);
}

/** fetch's "fetch failed" names nothing: its cause says what happened, at which address. */
function httpError(err: unknown, config: Extract<Server, { url: string }>): string {
  const url = config.url;
  if (err instanceof LoginRequired) return err.message;
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (err as { code?: unknown }).code;
  const reasons: Record<string, string> = {
    ECONNREFUSED: 'the connection was refused (is the server running?)',
    ENOTFOUND: 'the host name does not resolve',
    EAI_AGAIN: 'the host name could not be resolved (DNS)',
    ETIMEDOUT: 'the connection timed out',
    ECONNRESET: 'the connection was reset',
    UND_ERR_CONNECT_TIMEOUT: 'the connection timed out',
    CERT_HAS_EXPIRED: 'its TLS certificate has expired',
    DEPTH_ZERO_SELF_SIGNED_CERT: 'its TLS certificate is self-signed',
  };
  const status = refusedStatus(err);
  if (status) {
    const fix = config.oauth?.grant === 'client_credentials' ? 'check its oauth client_id and credentials' : `check its \`headers\`, or run \`mcpg auth login ${config.name}\``;
    return `${url} refused mcpg's credentials (HTTP ${status}: ${errorMessage(err)}): ${fix}`;
  }
  if (typeof code === 'string') return `cannot reach ${url}: ${reasons[code] ?? code}`;
  return `${url}: ${cause?.message ?? errorMessage(err)}`;
}
