import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { McpgError } from '../shared/errors.ts';
import { httpsOrLoopback } from '../shared/urls.ts';
import type { DpopKey } from '../auth/dpop.ts';
import { MODERN, standardHeaders } from './protocol.ts';
import { type Id, type Params, isObject } from './router.ts';
import { mib, sniffId } from './stdio.ts';

/** The most mcpg reads of an answer that is not MCP: OAuth metadata, registrations, tokens. */
const OTHER_BYTES = 1024 * 1024;
/** What is kept of an event too large to read, to find the id it carries. */
const SNIFF = 512;
const LF = 0x0a;
const CR = 0x0d;

export interface Bounds {
  /** The MCP endpoint: answers from its origin are bounded by maxBytes, any other (OAuth) by OTHER_BYTES. */
  url: string;
  /** The headers the config gives the server: sent to its own origin only. */
  headers?: Record<string, string>;
  /**
   * Where a client secret (or a private_key_jwt assertion) may go: hosts (the MCP server's, and
   * the configured authorization server's). Undefined: the server has no secret of mcpg's.
   */
  secretHosts?: string[];
  maxBytes: number;
  /** Names the server in errors. */
  who: string;
  /** An SSE event over the limit was discarded; `id` is the request id it seemed to answer. */
  onoversize?: (id: Id | undefined, limit: string) => void;
  /** The Mcp-Param-* headers of a 2026 request (its tool's declared parameters). */
  paramHeaders?: (message: Params) => Record<string, string>;
  /** DPoP: the key for a token request (when the authorization server binds tokens), and the one a token is bound to. */
  dpop?: { forTokenRequest(): DpopKey | undefined; boundTo(accessToken: string): DpopKey | undefined };
}

/**
 * fetch for one server's transports and OAuth requests. What it sends goes only where it
 * belongs: an endpoint that server metadata named (OAuth) must be https (http only on loopback),
 * the configured headers go to the server's own origin only, a client secret only to the hosts
 * the config allows. What it reads is bounded: a plain answer (JSON) fails once it passes
 * `maxBytes`; an event stream is read event by event, each held until it is complete and at
 * most `maxBytes`: a larger one is discarded as it arrives (keeping its first and last bytes to
 * find its id) and the stream goes on with the next event.
 */
export function boundedFetch(bounds: Bounds, base: typeof fetch = fetch): typeof fetch {
  const endpoint = new URL(bounds.url);
  return async (input, init) => {
    const target = input instanceof URL ? input : new URL(input instanceof Request ? input.url : String(input));
    // The server's own origin (its MCP endpoint, an SSE server's message endpoint, its metadata).
    const mcp = target.origin === endpoint.origin;
    const sent = mcp ? withStandardHeaders(init, bounds.paramHeaders) : checkedElsewhere(target, init, bounds);
    const link = linked(sent?.signal);
    // The transport's POSTs to the server (the calls) skip fetch's web streams: undici's request
    // costs a third of fetch's CPU here (`npm run bench`, section 7). fetch stays for the rest.
    const own = mcp ? bounds : { ...bounds, maxBytes: Math.min(bounds.maxBytes, OTHER_BYTES), who: `${target.origin}${target.pathname} (for ${bounds.who})` };
    const lean = mcp && base === fetch && sent?.method === 'POST' && sent.redirect === 'manual' && typeof sent.body === 'string';
    let res: Response;
    try {
      res = await withProof(lean ? (_, init) => posted(target, init!, own) : base, input, target, link.signal ? { ...sent, signal: link.signal } : sent, mcp, bounds.dpop);
    } catch (err) {
      link.unlink();
      throw err;
    }
    const sse = (res.headers.get('content-type') ?? '').toLowerCase().startsWith('text/event-stream');
    // An answer is read to its (bounded) end even if the transport closes now; a stream follows it.
    if (!sse) link.unlink();
    // posted() bounded its answer already.
    if (lean || !res.body) return res;
    // A body whose length is declared and within bounds needs no counting as it is read (fetch
    // reads no more than the declared length); a larger one is refused before it is read.
    const declared = res.headers.get('content-length');
    if (!sse && declared !== null && /^\d+$/.test(declared)) {
      if (Number(declared) <= own.maxBytes) return res;
      await res.body.cancel();
      throw tooLarge(own);
    }
    const limit = sse ? eventLimit(own) : bodyLimit(own);
    const bounded = new Response(res.body.pipeThrough(limit), { status: res.status, statusText: res.statusText, headers: res.headers });
    Object.defineProperty(bounded, 'url', { value: res.url });
    return bounded;
  };
}

let http: Promise<{ request: typeof import('undici').request; dispatcher: Dispatcher }> | undefined;

/**
 * A POST to the MCP endpoint through undici's request, answered as fetch would answer it (a
 * Response; a failure to connect as fetch's TypeError with its cause), its answer bounded the
 * same way: a JSON answer read whole within `maxBytes`, an event stream event by event. Redirects
 * are not followed (the SDK's transport asks for `manual` and follows within the origin itself).
 */
async function posted(target: URL, init: RequestInit, bounds: Bounds): Promise<Response> {
  // Loaded with the first call: a gateway of stdio servers never needs it. Node's fetch takes a
  // proxy from the environment only when NODE_USE_ENV_PROXY says so; so does this.
  http ??= import('undici').then((u) => ({ request: u.request, dispatcher: process.env.NODE_USE_ENV_PROXY ? new u.EnvHttpProxyAgent() : new u.Agent() }));
  const { request, dispatcher } = await http;
  const signal = init.signal ?? undefined;
  const failed = (err: unknown) => (signal?.aborted ? signal.reason : err instanceof McpgError ? err : new TypeError('fetch failed', { cause: err }));
  let res: Dispatcher.ResponseData;
  try {
    const sent: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => (sent[name] = value));
    res = await request(target, { method: 'POST', headers: sent, body: init.body as string, signal, dispatcher });
  } catch (err) {
    throw failed(err);
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) for (const v of [value ?? []].flat()) headers.append(name, v);
  const answered = { status: res.statusCode, statusText: res.statusText, headers };
  if ((headers.get('content-type') ?? '').toLowerCase().startsWith('text/event-stream')) {
    const response = new Response((Readable.toWeb(res.body) as ReadableStream<Uint8Array>).pipeThrough(eventLimit(bounds)), answered);
    Object.defineProperty(response, 'url', { value: target.href });
    return response;
  }
  const bytes = await new Promise<Buffer>((resolve, reject) => {
    if (Number(headers.get('content-length') ?? 0) > bounds.maxBytes) return reject(tooLarge(bounds));
    const chunks: Buffer[] = [];
    let size = 0;
    res.body.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > bounds.maxBytes) reject(tooLarge(bounds));
      else chunks.push(chunk);
    });
    res.body.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    res.body.once('error', reject);
  }).catch((err: unknown) => {
    res.body.destroy();
    throw failed(err);
  });
  return new ReadAnswer(bytes, answered, target.href) as unknown as Response;
}

/**
 * An answer read whole, as a Response to those who read it (the SDK's transport, its OAuth
 * steps): what they use of one, without the web stream a Response would make of its bytes for
 * each read (~35 µs a call here). `body` is made only when asked for.
 */
class ReadAnswer {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  readonly url: string;
  readonly type = 'basic';
  readonly redirected = false;
  bodyUsed = false;
  readonly #bytes: Buffer;
  #body?: ReadableStream<Uint8Array> | null;
  constructor(bytes: Buffer, init: { status: number; statusText: string; headers: Headers }, url: string) {
    this.#bytes = bytes;
    this.status = init.status;
    this.ok = init.status >= 200 && init.status < 300;
    this.statusText = init.statusText;
    this.headers = init.headers;
    this.url = url;
  }
  get body(): ReadableStream<Uint8Array> | null {
    // A 204, 205 or 304 has none.
    return (this.#body ??= [204, 205, 304].includes(this.status) ? null : new Response(new Uint8Array(this.#bytes)).body);
  }
  #take(): Buffer {
    if (this.bodyUsed) throw new TypeError('Body is unusable: Body has already been read');
    this.bodyUsed = true;
    return this.#bytes;
  }
  async text(): Promise<string> {
    return this.#take().toString('utf8');
  }
  async json(): Promise<unknown> {
    return JSON.parse(this.#take().toString('utf8'));
  }
  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = this.#take();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }
  async bytes(): Promise<Uint8Array> {
    return new Uint8Array(this.#take());
  }
  clone(): ReadAnswer {
    return new ReadAnswer(this.#bytes, this, this.url);
  }
}

/**
 * A request's own signal, aborted when the transport's is. undici keeps a listener on the signal
 * it is given until the request is garbage-collected: on the one signal all of a transport's
 * requests share they pile up, and each costs more to add than the last. This one listener is
 * removed as soon as the answer has come (a stream keeps it).
 */
function linked(signal: AbortSignal | null | undefined): { signal?: AbortSignal; unlink(): void } {
  if (!signal) return { unlink: () => {} };
  const own = new AbortController();
  const forward = () => own.abort(signal.reason);
  if (signal.aborted) forward();
  else signal.addEventListener('abort', forward, { once: true });
  return { signal: own.signal, unlink: () => signal.removeEventListener('abort', forward) };
}

/**
 * A 2026 request over HTTP says its method (and the tool, prompt or resource it names) in headers
 * too, and a tool call the parameters its tool declares for headers.
 */
function withStandardHeaders(init: RequestInit | undefined, paramHeaders?: (message: Params) => Record<string, string>): RequestInit | undefined {
  if (typeof init?.body !== 'string' || init.method !== 'POST') return init;
  const given = init.headers instanceof Headers ? init.headers : new Headers(init.headers);
  if (given.get('mcp-protocol-version') !== MODERN) return init;
  const headers = new Headers(given);
  let message: unknown;
  try {
    message = JSON.parse(init.body);
  } catch {
    return init;
  }
  const derived = { ...standardHeaders(message), ...(isObject(message) && paramHeaders?.(message)) };
  for (const [name, value] of Object.entries(derived)) headers.set(name, value);
  return { ...init, headers };
}

/**
 * A request with its DPoP proof, where one belongs: a token request when the authorization
 * server binds tokens, a request to the server that presents a bound token (whose `Bearer` then
 * says `DPoP`). A `use_dpop_nonce` answer is asked again once, with the nonce.
 */
async function withProof(base: typeof fetch, input: Parameters<typeof fetch>[0], target: URL, init: RequestInit | undefined, mcp: boolean, dpop: Bounds['dpop']): Promise<Response> {
  if (!dpop) return base(input, init);
  const method = init?.method ?? 'GET';
  const headers = new Headers(init?.headers);
  const token = /^bearer (\S+)$/i.exec(headers.get('authorization') ?? '')?.[1];
  const body = typeof init?.body === 'string' ? init.body : init?.body instanceof URLSearchParams ? init.body.toString() : '';
  const key = mcp ? token && dpop.boundTo(token) : method === 'POST' && /(?:^|&)grant_type=/.test(body) ? dpop.forTokenRequest() : undefined;
  if (!key) return base(input, init);
  if (mcp) headers.set('authorization', `DPoP ${token}`);
  const attempt = () => {
    headers.set('dpop', key.proof(method, target.href, mcp ? token : undefined));
    return base(input, { ...init, headers });
  };
  const res = await attempt();
  if (!key.noted(target.href, res)) return res;
  await res.body?.cancel();
  return attempt();
}

/** A request to an endpoint other than the MCP one (OAuth metadata, registration, tokens). */
function checkedElsewhere(target: URL, init: RequestInit | undefined, bounds: Bounds): RequestInit | undefined {
  const refuse = (rule: string) => new McpgError('BACKEND_AUTH', `${bounds.who}: mcpg refused to contact ${target.href}: ${rule}`);
  if (!httpsOrLoopback(target)) {
    throw refuse('an endpoint named by server metadata must be https (plain http only on loopback)');
  }
  const headers = new Headers(init?.headers);
  for (const name of Object.keys(bounds.headers ?? {})) headers.delete(name);
  const body = typeof init?.body === 'string' ? init.body : init?.body instanceof URLSearchParams ? init.body.toString() : '';
  const carriesSecret = /^basic /i.test(headers.get('authorization') ?? '') || /(?:^|&)(client_secret|client_assertion)=/.test(body);
  if (carriesSecret && bounds.secretHosts && !bounds.secretHosts.includes(target.hostname)) {
    throw refuse(`the client secret is sent only to ${bounds.secretHosts.join(' or ')} (set oauth.authorization_server to allow another)`);
  }
  return { ...init, headers };
}

const tooLarge = ({ maxBytes, who }: Bounds) => new McpgError('BACKEND_UNAVAILABLE', `${who} answered with more than ${mib(maxBytes)}; the answer was discarded`);

function bodyLimit(bounds: Bounds): TransformStream<Uint8Array, Uint8Array> {
  let size = 0;
  return new TransformStream({
    transform(chunk, controller) {
      size += chunk.length;
      if (size > bounds.maxBytes) controller.error(tooLarge(bounds));
      else controller.enqueue(chunk);
    },
  });
}

function eventLimit({ maxBytes, onoversize }: Bounds): TransformStream<Uint8Array, Uint8Array> {
  let parts: Uint8Array[] = [];
  let size = 0;
  /** The last byte that was not a CR was an LF: a second LF ends the event. */
  let afterLf = false;
  let discarding: { head: Buffer; tail: Buffer } | undefined;
  const take = (part: Uint8Array) => {
    if (!part.length) return;
    if (discarding) {
      discarding.tail = Buffer.from(Buffer.concat([discarding.tail, part.subarray(-SNIFF)]).subarray(-SNIFF));
      return;
    }
    if (size + part.length <= maxBytes) {
      parts.push(part);
      size += part.length;
      return;
    }
    const all = Buffer.concat([...parts, part]);
    discarding = { head: Buffer.from(all.subarray(0, SNIFF)), tail: Buffer.from(all.subarray(-SNIFF)) };
    parts = [];
    size = 0;
  };
  const end = (controller: TransformStreamDefaultController<Uint8Array>) => {
    if (discarding) {
      const { head, tail } = discarding;
      discarding = undefined;
      const text = head.toString('latin1');
      const data = /(?:^|\n)data:\s?/.exec(text);
      onoversize?.(sniffId(data ? text.slice(data.index + data[0].length) : text, tail.toString('latin1').replace(/\s+$/, '')), mib(maxBytes));
      return;
    }
    for (const p of parts) controller.enqueue(p);
    parts = [];
    size = 0;
  };
  return new TransformStream({
    transform(chunk, controller) {
      let from = 0;
      for (let i = 0; i < chunk.length; i++) {
        const byte = chunk[i]!;
        if (byte === CR) continue;
        if (byte !== LF) {
          afterLf = false;
          continue;
        }
        if (!afterLf) {
          afterLf = true;
          continue;
        }
        // A blank line: the event ends with this byte.
        take(chunk.subarray(from, i + 1));
        end(controller);
        from = i + 1;
        afterLf = false;
      }
      take(chunk.subarray(from));
    },
    flush(controller) {
      end(controller);
    },
  });
}
