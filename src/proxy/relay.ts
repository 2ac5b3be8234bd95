import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, McpError, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/**
 * mcpg's own request/response correlation for the calls it forwards, on the SDK's Transport.
 * The SDK's Protocol tells message kinds apart by parsing each one against its schemas; on a
 * relayed call that is four full parses (request and result, on each side), which profiling
 * showed to be the largest part of the gateway's cost. The session itself (initialize,
 * capabilities, list_changed, pings) stays with the SDK's Client and Server.
 */

type Message = Record<string, unknown> & { id?: string | number; method?: string; params?: Record<string, unknown> };

export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs: number;
  onprogress?: (progress: { progress: number; total?: number; message?: string }) => void;
}

interface Pending {
  resolve: (result: Record<string, unknown>) => void;
  reject: (error: Error) => void;
  onprogress?: CallOptions['onprogress'];
  timer?: NodeJS.Timeout;
}

/** Outgoing calls to one backend: ids in their own namespace, answered before the SDK sees them. */
export class BackendRelay {
  readonly #transport: Transport;
  readonly #pending = new Map<string, Pending>();
  #next = 0;

  constructor(transport: Transport) {
    this.#transport = transport;
    const sdk = { onmessage: transport.onmessage, onclose: transport.onclose };
    transport.onmessage = (message) => {
      if (!this.#handle(message as Message)) sdk.onmessage?.(message);
    };
    transport.onclose = () => {
      this.#failAll(new McpError(ErrorCode.ConnectionClosed, 'Connection closed'));
      sdk.onclose?.();
    };
  }

  call(method: string, params: Record<string, unknown> | undefined, options: CallOptions): Promise<Record<string, unknown>> {
    const id = `mcpg-${++this.#next}`;
    const meta = options.onprogress ? { ...(params?._meta as object | undefined), progressToken: id } : undefined;
    const message = { jsonrpc: '2.0', id, method, params: meta ? { ...params, _meta: meta } : params };
    return new Promise((resolve, reject) => {
      const pending: Pending = { resolve, reject, onprogress: options.onprogress };
      const cancel = (reason: string, error: Error) => {
        if (!this.#pending.delete(id)) return;
        clearTimeout(pending.timer);
        void this.#transport.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason } } as JSONRPCMessage);
        reject(error);
      };
      const arm = () => {
        clearTimeout(pending.timer);
        pending.timer = setTimeout(
          () => cancel('timeout', new McpError(ErrorCode.RequestTimeout, 'Request timed out')),
          options.timeoutMs,
        );
      };
      if (options.signal?.aborted) return reject(new McpError(ErrorCode.RequestTimeout, 'Request cancelled'));
      options.signal?.addEventListener('abort', () => cancel(String(options.signal?.reason ?? 'cancelled'), new Error('cancelled by the agent')), { once: true });
      // Progress re-arms the timer: a long call that reports progress is alive.
      if (options.onprogress) pending.onprogress = (p) => (arm(), options.onprogress!(p));
      arm();
      this.#pending.set(id, pending);
      this.#transport.send(message as JSONRPCMessage).catch((err: Error) => cancel('send failed', err));
    });
  }

  #handle(m: Message): boolean {
    if (m.method === 'notifications/progress') {
      const token = m.params?.progressToken;
      const p = typeof token === 'string' ? this.#pending.get(token) : undefined;
      if (!p) return false;
      p.onprogress?.(m.params as { progress: number; total?: number; message?: string });
      return true;
    }
    if (m.method !== undefined || typeof m.id !== 'string') return false;
    const p = this.#pending.get(m.id);
    if (!p) return false;
    this.#pending.delete(m.id);
    clearTimeout(p.timer);
    const error = m.error as { code?: number; message?: string; data?: unknown } | undefined;
    if (error) p.reject(new McpError(typeof error.code === 'number' ? error.code : ErrorCode.InternalError, String(error.message ?? 'error'), error.data));
    else if (typeof m.result === 'object' && m.result !== null && !Array.isArray(m.result)) p.resolve(m.result as Record<string, unknown>);
    else p.reject(new McpError(ErrorCode.InternalError, 'the backend answered with a result that is not an object'));
    return true;
  }

  #failAll(error: Error): void {
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      clearTimeout(p.timer);
      p.reject(error);
    }
  }
}

export interface AgentCall {
  params: Record<string, unknown>;
  signal: AbortSignal;
  progressToken?: string | number;
  sendProgress: (progress: Record<string, unknown>) => Promise<void>;
}

/**
 * Incoming `tools/call` requests from the agent, answered by `handler` without the SDK's
 * per-message parsing; everything else goes on to the SDK's Server. Cancellation from the agent
 * aborts the handler's signal.
 */
export function relayAgentCalls(transport: Transport, handler: (call: AgentCall) => Promise<Record<string, unknown>>): void {
  const sdk = transport.onmessage;
  const inFlight = new Map<string | number, AbortController>();
  const reply = (id: string | number, body: { result: unknown } | { error: { code: number; message: string } }) =>
    transport.send({ jsonrpc: '2.0', id, ...body } as JSONRPCMessage);
  transport.onmessage = (message) => {
    const m = message as Message;
    if (m.method === 'notifications/cancelled') {
      const id = m.params?.requestId as string | number | undefined;
      const controller = id !== undefined ? inFlight.get(id) : undefined;
      if (controller) {
        inFlight.delete(id!);
        controller.abort(m.params?.reason ?? 'cancelled');
        return;
      }
    }
    if (m.method !== 'tools/call' || m.id === undefined) return sdk?.(message);
    const id = m.id;
    const controller = new AbortController();
    inFlight.set(id, controller);
    const params = (m.params ?? {}) as Record<string, unknown>;
    const token = (params._meta as { progressToken?: string | number } | undefined)?.progressToken;
    handler({
      params,
      signal: controller.signal,
      progressToken: token,
      sendProgress: (p) => transport.send({ jsonrpc: '2.0', method: 'notifications/progress', params: { ...p, progressToken: token } } as JSONRPCMessage),
    })
      .then(
        (result) => (controller.signal.aborted ? undefined : reply(id, { result })),
        (err: unknown) =>
          controller.signal.aborted
            ? undefined
            : reply(id, {
                error: err instanceof McpError ? { code: err.code, message: err.message } : { code: ErrorCode.InternalError, message: String((err as Error)?.message ?? err) },
              }),
      )
      .finally(() => inFlight.delete(id));
  };
}
