import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ErrorCode,
  McpError,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { Server } from '../config/load.ts';
import { McpgError, errorMessage } from '../shared/errors.ts';
import { logger } from '../shared/log.ts';
import { VERSION } from '../shared/version.ts';
import { BackendRelay, type CallOptions } from './relay.ts';
import { ChildTransport } from './stdio.ts';

/** Wait before restart N+1 after N failures in a row: a crash restarts at once, a crash loop backs off. */
const BACKOFF_MS = [0, 1_000, 2_000, 5_000, 10_000, 30_000];
/** A backend that stayed up this long has recovered: its failure count starts again. */
const HEALTHY_MS = 60_000;

export type ListKind = 'tools' | 'prompts' | 'resources';

/**
 * One backend MCP server: its connection, its restarts, and the errors that name it.
 * A backend that dies fails its in-flight calls and is started again on next use, no sooner
 * than the backoff allows.
 */
export class Backend {
  readonly name: string;
  readonly config: Server;
  #client?: Client;
  #relay?: BackendRelay;
  #connecting?: Promise<Client>;
  #failures = 0;
  #retryAt = 0;
  #startedAt = 0;
  #lastError = '';
  #closing = false;
  readonly #log;
  /** Called when the backend says a list changed, or when it restarted (its lists may differ). */
  onListChanged: (kind: ListKind) => void = () => {};

  constructor(config: Server) {
    this.name = config.name;
    this.config = config;
    this.#log = logger(`backend:${config.name}`);
  }

  get capabilities() {
    return this.#client?.getServerCapabilities() ?? {};
  }

  /** Starts the backend; a failure here names the server and what went wrong. */
  async start(): Promise<void> {
    await this.#connected();
  }

  async request(method: string, params: Record<string, unknown> | undefined, options: Omit<CallOptions, 'timeoutMs'> = {}) {
    await this.#connected();
    try {
      return await this.#relay!.call(method, params, { timeoutMs: this.config.toolTimeoutMs, ...options });
    } catch (err) {
      if (err instanceof McpError && err.code === ErrorCode.ConnectionClosed) {
        throw new McpgError('BACKEND_UNAVAILABLE', `server "${this.name}" exited during ${method}; it restarts on next use`);
      }
      if (err instanceof McpError && err.code === ErrorCode.RequestTimeout) {
        throw new McpgError('BACKEND_UNAVAILABLE', `server "${this.name}" did not answer ${method} within ${this.config.toolTimeoutMs / 1000}s`);
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    this.#closing = true;
    await this.#client?.close().catch(() => {});
  }

  #connected(): Promise<Client> {
    if (this.#client) return Promise.resolve(this.#client);
    if (this.#connecting) return this.#connecting;
    const wait = this.#retryAt - Date.now();
    if (wait > 0) {
      return Promise.reject(
        new McpgError(
          'BACKEND_UNAVAILABLE',
          `server "${this.name}" is unavailable (${this.#lastError}); next restart attempt in ${Math.ceil(wait / 1000)}s`,
        ),
      );
    }
    this.#connecting = this.#connect().finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  async #connect(): Promise<Client> {
    const client = new Client({ name: 'mcpg', version: VERSION }, { capabilities: {} });
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => this.onListChanged('tools'));
    client.setNotificationHandler(PromptListChangedNotificationSchema, async () => this.onListChanged('prompts'));
    client.setNotificationHandler(ResourceListChangedNotificationSchema, async () => this.onListChanged('resources'));
    const restart = this.#lastError !== '';
    const transport = this.#transport();
    try {
      await client.connect(transport, { timeout: this.config.startupTimeoutMs });
    } catch (err) {
      await client.close().catch(() => {});
      this.#lastError = startError(err, this.config.startupTimeoutMs);
      this.#failed();
      throw new McpgError('BACKEND_START', `server "${this.name}" failed to start: ${this.#lastError}`, { cause: err });
    }
    this.#client = client;
    this.#relay = new BackendRelay(transport);
    this.#startedAt = Date.now();
    client.onclose = () => {
      if (this.#client !== client) return;
      this.#client = undefined;
      if (this.#closing) return;
      if (Date.now() - this.#startedAt > HEALTHY_MS) this.#failures = 0;
      this.#lastError = 'it exited';
      this.#failed();
      this.#log.warn('exited; it restarts on next use');
    };
    this.#log.info(restart ? 'restarted' : 'started');
    if (restart) for (const kind of ['tools', 'prompts', 'resources'] as const) this.onListChanged(kind);
    return client;
  }

  #failed(): void {
    this.#retryAt = Date.now() + BACKOFF_MS[Math.min(this.#failures++, BACKOFF_MS.length - 1)]!;
  }

  #transport() {
    const c = this.config;
    if ('url' in c) {
      return new StreamableHTTPClientTransport(new URL(c.url), { requestInit: { headers: c.headers } });
    }
    const transport = new ChildTransport(c.command, c.args, {
      // An allow-listed base environment (PATH, HOME, …) plus what the config gives, nothing else.
      env: { ...getDefaultEnvironment(), ...c.env },
      cwd: c.cwd,
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

function startError(err: unknown, timeoutMs: number): string {
  if (err instanceof McpError && err.code === ErrorCode.RequestTimeout) return `no answer to initialize within ${timeoutMs / 1000}s`;
  if (err instanceof McpError && err.code === ErrorCode.ConnectionClosed) return 'it exited before answering initialize';
  const message = errorMessage(err);
  return /ENOENT/.test(message) ? `command not found (${message})` : message;
}
