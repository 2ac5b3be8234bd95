import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoginRequired, oauthProvider } from '../auth/provider.ts';
import { DpopKey } from '../auth/dpop.ts';
import { TokenStore } from '../auth/store.ts';
import type { HttpServer } from '../config/load.ts';
import { McpgError, errorMessage } from '../shared/errors.ts';
import { boundedFetch } from './bounded-fetch.ts';
import { UNSUPPORTED_VERSION } from './protocol.ts';
import type { Id, Params } from './router.ts';

// The HTTP side of a backend: MCP over Streamable HTTP or legacy SSE, with OAuth. Loaded only
// for servers with a url, so that a gateway of stdio servers does not start the HTTP stack.

export type RemoteTransport = StreamableHTTPClientTransport | SSEClientTransport;

/**
 * The transport of a server with a url. Every answer it reads (and every OAuth answer) is
 * bounded by the server's max_message_mib as it arrives; an event over it is discarded and
 * reported through `onoversize`, which fails the request it answers.
 */
export function remoteTransport(c: HttpServer, onoversize: (id: Id | undefined, limit: string) => void, paramHeaders?: (message: Params) => Record<string, string>): RemoteTransport {
  const options = {
    requestInit: { headers: c.headers },
    fetch: serverFetch(c, onoversize, paramHeaders),
    ...(!ownCredentials(c) && { authProvider: oauthProvider(c, new TokenStore()) }),
  };
  // The legacy HTTP+SSE transport for servers that speak nothing newer (type = "sse").
  if (c.type === 'sse') return new SSEClientTransport(new URL(c.url), options);
  return new StreamableHTTPClientTransport(new URL(c.url), options);
}

/**
 * A server given its credentials in a header is not an OAuth resource to mcpg; any other that
 * answers 401 gets an OAuth client with the tokens `mcpg auth login` stored (and DPoP for them).
 */
function ownCredentials(c: HttpServer): boolean {
  return Object.keys(c.headers).some((h) => h.toLowerCase() === 'authorization');
}

/** The one fetch of a server with a url: its transport's and its OAuth requests' (bounded-fetch.ts). */
export function serverFetch(c: HttpServer, onoversize?: (id: Id | undefined, limit: string) => void, paramHeaders?: (message: Params) => Record<string, string>): typeof fetch {
  const secret = c.oauth?.client_secret || c.oauth?.private_key;
  return boundedFetch({
    url: c.url,
    maxBytes: c.maxMessageBytes,
    who: `server "${c.name}"`,
    onoversize,
    paramHeaders,
    // Only OAuth tokens are bound to a key: a header's credentials are sent as they are, with no
    // look into the token store at each request.
    ...(!ownCredentials(c) && { dpop: dpopKeys(c) }),
    headers: c.headers,
    ...(secret && { secretHosts: [new URL(c.url).hostname, ...(c.oauth?.authorization_server ? [new URL(c.oauth.authorization_server).hostname] : [])] }),
  });
}

/**
 * The server's DPoP key, from its token store record: made (and kept) for the first token request
 * to an authorization server that binds tokens (it lists ES256 in
 * dpop_signing_alg_values_supported); a token the store says is DPoP-bound is presented with it.
 */
function dpopKeys(c: HttpServer) {
  const store = new TokenStore();
  let key: DpopKey | undefined;
  const record = () => {
    try {
      return store.load(c.name, c.url);
    } catch {
      return undefined;
    }
  };
  const stored = () => {
    const jwk = record()?.dpop;
    return jwk ? (key ??= new DpopKey(jwk)) : undefined;
  };
  return {
    forTokenRequest(): DpopKey | undefined {
      const metadata = record()?.discovery?.authorizationServerMetadata as { dpop_signing_alg_values_supported?: unknown } | undefined;
      const algs = metadata?.dpop_signing_alg_values_supported;
      if (!Array.isArray(algs) || !algs.includes('ES256')) return undefined;
      if (!stored()) store.update(c.name, c.url, (r) => void (r.dpop ??= DpopKey.generate()));
      return stored();
    },
    boundTo(accessToken: string): DpopKey | undefined {
      const tokens = record()?.tokens;
      return tokens?.access_token === accessToken && tokens.token_type?.toLowerCase() === 'dpop' ? stored() : undefined;
    },
  };
}

/**
 * The versions a server names when it refuses the one a request was made in (HTTP 400 with
 * JSON-RPC error -32022): the SDK's transport reports that answer as an error with its body.
 */
export function unsupportedVersion(err: unknown): unknown {
  const message = errorMessage(err);
  const start = message.indexOf('{');
  if (start < 0) return undefined;
  try {
    const body = JSON.parse(message.slice(start)) as { error?: { code?: unknown; data?: { supported?: unknown } } };
    return body.error?.code === UNSUPPORTED_VERSION ? body.error.data?.supported : undefined;
  } catch {
    return undefined;
  }
}

/** A step that needs a person in a browser (no tokens yet, a step-up, a refused refresh). */
export function needsLogin(err: unknown): boolean {
  return err instanceof LoginRequired;
}

/** A request's failure that a person must act on (log in, fix credentials), as the user error it is. */
export function authFailure(err: unknown, config: HttpServer): McpgError | undefined {
  if (err instanceof LoginRequired) return new McpgError('BACKEND_AUTH', err.message);
  if (refusedStatus(err)) return new McpgError('BACKEND_AUTH', `server "${config.name}": ${httpError(err, config)}`);
  return undefined;
}

/** The HTTP status of a refusal of mcpg's credentials (401 or 403), if that is what `err` is. */
function refusedStatus(err: unknown): string | undefined {
  // The SDK's StreamableHTTPError carries the status as `code`; other errors only say it.
  const code = (err as { code?: unknown }).code;
  if (code === 401 || code === 403) return String(code);
  return /\b(401|403)\b/.exec(errorMessage(err))?.[1] ?? (err instanceof UnauthorizedError ? '401' : undefined);
}

/** fetch's "fetch failed" names nothing: its cause says what happened, at which address. */
export function httpError(err: unknown, config: HttpServer): string {
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
