import type { ServerResponse } from 'node:http';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Id } from '../proxy/router.ts';

type Message = { id?: unknown; method?: unknown; result?: unknown; error?: unknown };

/** One POST whose requests are waiting for their answers. */
interface Post {
  res: ServerResponse;
  /** Ids of its requests not answered yet. */
  waiting: Set<string>;
  /** Answers kept until the last one (a JSON body), unless the POST became an event stream. */
  answers: Message[];
  batch: boolean;
  stream: boolean;
}

const key = (id: unknown) => `${typeof id}:${String(id)}`;

/**
 * One MCP session over streamable HTTP, the server side, as mcpg's Router uses it. A POST's
 * messages go to the session; its requests are answered on that POST: as one JSON body, or as
 * an event stream once something related to them (progress, a server's request made during the
 * call) goes out before the answer. What relates to no request goes on the session's GET stream,
 * when the agent opened one. Written for mcpg rather than taken from the SDK: the SDK's
 * transport converts every request and response to web streams and back, several hundred
 * microseconds a call on these machines (`npm run bench`, section 7).
 */
export class HttpTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  readonly sessionId?: string;
  /** The HTTP status of a lone answer that is a JSON-RPC error (2026: 404 for a method not found, 400 for a bad request). */
  readonly #errorStatus?: (code: number) => number;
  readonly #posts = new Map<string, Post>();
  #standalone?: ServerResponse;
  #closed = false;

  constructor(sessionId?: string, errorStatus?: (code: number) => number) {
    this.sessionId = sessionId;
    this.#errorStatus = errorStatus;
  }

  async start(): Promise<void> {}

  /** A POST: 202 when it carries no request; otherwise its answers go on `res`. */
  handlePost(res: ServerResponse, body: unknown): void {
    const messages = (Array.isArray(body) ? body : [body]) as Message[];
    const requests = messages.filter((m) => typeof m === 'object' && m !== null && typeof m.method === 'string' && m.id !== undefined && m.id !== null);
    if (!requests.length) {
      res.writeHead(202, this.#headers()).end();
    } else {
      const post: Post = { res, waiting: new Set(requests.map((m) => key(m.id))), answers: [], batch: Array.isArray(body), stream: false };
      for (const id of post.waiting) this.#posts.set(id, post);
      res.on('close', () => {
        for (const id of post.waiting) this.#posts.delete(id);
      });
    }
    for (const m of messages) this.onmessage?.(m as JSONRPCMessage);
  }

  /** A GET: the session's stream for what relates to no request (one at a time). */
  handleGet(res: ServerResponse): void {
    if (this.#standalone) return void res.writeHead(409, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'this session already has an event stream open' }));
    res.writeHead(200, this.#headers('text/event-stream'));
    res.flushHeaders();
    this.#standalone = res;
    res.on('close', () => {
      if (this.#standalone === res) this.#standalone = undefined;
    });
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.#closed) return;
    const m = message as Message;
    if (m.method === undefined && m.id !== undefined && ('result' in m || 'error' in m)) {
      const post = this.#posts.get(key(m.id));
      // An answer nobody waits for any more (the agent hung up): dropped.
      if (!post) return;
      this.#posts.delete(key(m.id));
      post.waiting.delete(key(m.id));
      if (post.stream) {
        event(post.res, m);
        if (!post.waiting.size) post.res.end();
        return;
      }
      post.answers.push(m);
      if (post.waiting.size) return;
      const body = JSON.stringify(post.batch ? post.answers : post.answers[0]);
      const error = post.batch ? undefined : (post.answers[0]!.error as { code?: unknown } | undefined);
      const status = error && typeof error.code === 'number' && this.#errorStatus ? this.#errorStatus(error.code) : 200;
      post.res.writeHead(status, { ...this.#headers('application/json'), 'content-length': Buffer.byteLength(body) }).end(body);
      return;
    }
    const related = options?.relatedRequestId;
    const post = related === undefined ? undefined : this.#posts.get(key(related as Id));
    if (post && !post.res.writableEnded) {
      if (!post.stream) {
        post.stream = true;
        post.res.writeHead(200, this.#headers('text/event-stream'));
        for (const a of post.answers) event(post.res, a);
      }
      event(post.res, m);
      return;
    }
    if (this.#standalone) event(this.#standalone, m);
    // Otherwise nothing can carry it: a message that relates to no request needs the GET stream.
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Requests still waiting: answered that the session is gone (or their streams ended).
    for (const post of new Set(this.#posts.values())) {
      if (post.res.headersSent) post.res.end();
      else post.res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'the session closed' }));
    }
    this.#posts.clear();
    this.#standalone?.end();
    this.onclose?.();
  }

  #headers(type?: string): Record<string, string> {
    return {
      ...(type && { 'content-type': type }),
      ...(type === 'text/event-stream' && { 'cache-control': 'no-cache' }),
      ...(this.sessionId && { 'mcp-session-id': this.sessionId }),
    };
  }
}

function event(res: ServerResponse, message: unknown): void {
  res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
}
