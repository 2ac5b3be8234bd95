import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { type ParamHeader, decodedHeader, headerValue, paramHeadersMismatch } from './param-headers.ts';
import { IMPLEMENTATION } from '../shared/version.ts';
import { type Params, isObject } from './router.ts';

/**
 * The two eras of MCP, on both sides of the gateway. Up to 2025-11-25 a connection starts with
 * `initialize`, and a server asks its client things with requests of its own. From 2026-07-28
 * there is no handshake: each request carries the protocol version, the client's capabilities
 * and its name in `_meta` (over HTTP also in the MCP-Protocol-Version, Mcp-Method and Mcp-Name
 * headers), `server/discover` says what a server supports, and a server that needs the client's
 * input answers `resultType: "input_required"`; the client asks and sends the request again with
 * `inputResponses` and the server's `requestState`.
 */
export const MODERN = '2026-07-28';
/**
 * The versions of the era with a handshake, newest first: those of the MCP SDK mcpg is built with
 * (a test holds them equal). Written here because the SDK's module that declares them builds
 * every schema of the protocol when loaded, which `mcpg run` would pay for before it starts a server.
 */
export const HANDSHAKE_VERSIONS: readonly string[] = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '2024-10-07'];
export const LATEST_HANDSHAKE = HANDSHAKE_VERSIONS[0]!;
/** Every version mcpg speaks, newest first. */
export const SUPPORTED_VERSIONS = [MODERN, ...HANDSHAKE_VERSIONS];

export const META = {
  protocolVersion: 'io.modelcontextprotocol/protocolVersion',
  clientCapabilities: 'io.modelcontextprotocol/clientCapabilities',
  clientInfo: 'io.modelcontextprotocol/clientInfo',
  subscriptionId: 'io.modelcontextprotocol/subscriptionId',
  serverInfo: 'io.modelcontextprotocol/serverInfo',
} as const;
/** The log level a 2026 request asks its log lines at; it goes on to the server, as the request's own. */
export const LOG_LEVEL_META = 'io.modelcontextprotocol/logLevel';

/** The JSON-RPC error of a request in a version the receiver does not speak. */
export const UNSUPPORTED_VERSION = -32022;
/** A request that needs a capability (or extension) the client did not declare (SEP-2575). */
export const MISSING_CAPABILITY = -32021;
/** A 2026 request whose HTTP headers disagree with its body (SEP-2243). */
export const HEADER_MISMATCH = -32020;
/** Methods a 2026 client no longer sends: the handshake, ping, and the older ways to subscribe and set a log level. */
const REMOVED_IN_MODERN = new Set(['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe']);


/** The protocol version a request's `_meta` claims (2026-07-28 and later), if any. */
export function claimedVersion(params: Params | undefined): string | undefined {
  const meta = params?._meta;
  const v = isObject(meta) ? meta[META.protocolVersion] : undefined;
  return typeof v === 'string' ? v : undefined;
}

/** The client capabilities a 2026 request declares in its `_meta`. */
export function claimedCapabilities(params: Params): Params {
  const caps = (params._meta as Params)[META.clientCapabilities];
  return isObject(caps) ? caps : {};
}

/** `params` with mcpg's 2026 envelope: version, the capabilities it declares, and its name in `_meta`. */
export function enveloped(params: Params | undefined, capabilities: Params): Params {
  const meta = isObject(params?._meta) ? params._meta : {};
  return { ...params, _meta: { ...meta, [META.protocolVersion]: MODERN, [META.clientCapabilities]: capabilities, [META.clientInfo]: IMPLEMENTATION } };
}

/** Which body field the Mcp-Name header mirrors, per method. */
const NAME_SOURCE: Record<string, string> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri', 'tasks/get': 'taskId', 'tasks/update': 'taskId', 'tasks/cancel': 'taskId' };

/** What a request names (its tool, prompt or resource), as its Mcp-Name header mirrors it. */
function namedIn(method: string, params: unknown): string | undefined {
  const field = Object.hasOwn(NAME_SOURCE, method) ? NAME_SOURCE[method]! : undefined;
  const value = field && isObject(params) ? params[field] : undefined;
  return typeof value === 'string' ? value : undefined;
}

/** Why a 2026 request over HTTP is refused before it is read further, as an HTTP status and a JSON-RPC error. */
export interface Refusal {
  status: number;
  code: number;
  message: string;
  data?: unknown;
}

/**
 * The checks a 2026 request gets at the HTTP door (SEP-2575, SEP-2243): the MCP-Protocol-Version
 * header is a version mcpg speaks and agrees with the body's envelope, the envelope is whole,
 * Mcp-Method and Mcp-Name agree with the body, a tool call's Mcp-Param-* headers agree with its
 * arguments (as its tool declares them), and no method of the older era is asked for.
 * Undefined when the request is not of the 2026 era, or passes.
 */
export function refusedModern(
  headers: Record<string, string | string[] | undefined>,
  body: unknown,
  declared: (tool: string) => ParamHeader[] | undefined = () => undefined,
): Refusal | undefined {
  if (!isObject(body) || typeof body.method !== 'string') return undefined;
  const header = typeof headers['mcp-protocol-version'] === 'string' ? headers['mcp-protocol-version'] : undefined;
  const params = isObject(body.params) ? body.params : undefined;
  const claimed = claimedVersion(params);
  const unsupported = (version: string | undefined): Refusal | undefined =>
    version !== undefined && !SUPPORTED_VERSIONS.includes(version)
      ? { status: 400, code: UNSUPPORTED_VERSION, message: `Unsupported protocol version: ${version}`, data: { supported: SUPPORTED_VERSIONS, requested: version } }
      : undefined;
  const mismatch = (what: string): Refusal => ({ status: 400, code: HEADER_MISMATCH, message: `Header mismatch: ${what}` });
  // The header is read first; a body that says otherwise disagrees with it, whatever it says.
  const refused = unsupported(header) ?? (header !== undefined && claimed !== undefined && header !== claimed ? mismatch(`MCP-Protocol-Version is ${header}, the request's _meta says ${claimed}`) : unsupported(claimed));
  if (refused) return refused;
  // The older era: no envelope, and no 2026 header.
  if (claimed === undefined && header !== MODERN) return undefined;
  if (body.id === undefined) return undefined;
  const meta = isObject(params?._meta) ? params._meta : {};
  if (meta[META.protocolVersion] !== MODERN || !isObject(meta[META.clientCapabilities])) {
    return { status: 400, code: -32602, message: `Invalid params: a ${MODERN} request carries ${META.protocolVersion} and ${META.clientCapabilities} in its _meta` };
  }
  if (REMOVED_IN_MODERN.has(body.method)) return { status: 404, code: -32601, message: `Method not found: ${body.method} is not a ${MODERN} method` };
  const method = headers['mcp-method'];
  if (method !== body.method) return mismatch(`Mcp-Method is ${method === undefined ? 'missing' : JSON.stringify(method)}, the body's method is ${body.method}`);
  const named = namedIn(body.method, params);
  if (named !== undefined) {
    const name = headers['mcp-name'];
    if (typeof name !== 'string' || decodedHeader(name) !== named) return mismatch(`Mcp-Name is ${name === undefined ? 'missing' : JSON.stringify(name)}, the body names ${JSON.stringify(named)}`);
  }
  const declarations = body.method === 'tools/call' && named !== undefined ? declared(named) : undefined;
  const wrong = declarations && paramHeadersMismatch(declarations, params?.arguments, headers);
  return wrong ? mismatch(wrong) : undefined;
}

/** The HTTP status of a 2026 request's JSON-RPC error: 404 for a method not found, 400 for a request that is wrong. */
export function modernErrorStatus(code: number): number {
  if (code === -32601) return 404;
  return [-32602, -32600, UNSUPPORTED_VERSION, HEADER_MISMATCH, MISSING_CAPABILITY].includes(code) ? 400 : 200;
}

/** The Mcp-Method and Mcp-Name headers a 2026 request carries over HTTP, from its body. */
export function standardHeaders(message: unknown): Record<string, string> {
  if (!isObject(message) || typeof message.method !== 'string' || message.id === undefined) return {};
  const headers: Record<string, string> = { 'mcp-method': message.method };
  const named = namedIn(message.method, message.params);
  if (named !== undefined) headers['mcp-name'] = headerValue(named);
  return headers;
}

/**
 * mcpg's own `requestState`: which of an agent's requests a retry continues, sealed with an HMAC
 * so that a state the agent (or anyone) altered, made up, or took from another agent is refused.
 */
export class RequestStates {
  readonly #key: Buffer;
  constructor(key: Buffer = randomBytes(32)) {
    this.#key = key;
  }

  #mac(body: string): Buffer {
    return createHmac('sha256', this.#key).update(body).digest();
  }

  /** A state for one answer of the request: each is new (a salt), so each round's differs. */
  seal(agent: string, nonce: string): string {
    const body = Buffer.from(JSON.stringify({ a: agent, n: nonce, s: randomBytes(6).toString('base64url') })).toString('base64url');
    return `${body}.${this.#mac(body).toString('base64url')}`;
  }

  /** The nonce of a state this gateway sealed for this agent; undefined for any other. */
  open(agent: string, state: unknown): string | undefined {
    if (typeof state !== 'string' || state.length > 1024) return undefined;
    const [body, mac, extra] = state.split('.');
    if (!body || !mac || extra !== undefined) return undefined;
    const given = Buffer.from(mac, 'base64url');
    const expected = this.#mac(body);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    try {
      const { a, n } = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as { a?: unknown; n?: unknown };
      return a === agent && typeof n === 'string' ? n : undefined;
    } catch {
      return undefined;
    }
  }
}

/** A 2026 request's params without its envelope: the agent's name and capabilities are not a server's business. */
export function withoutEnvelope(params: Params): Params {
  const meta = params._meta;
  if (!isObject(meta)) return params;
  const rest = { ...meta };
  for (const key of Object.values(META)) delete rest[key];
  const others = { ...params };
  delete others._meta;
  return Object.keys(rest).length ? { ...others, _meta: rest } : others;
}
