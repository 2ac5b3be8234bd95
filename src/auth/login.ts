import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { auth, extractWWWAuthenticateParams } from '@modelcontextprotocol/sdk/client/auth.js';
import { McpgError, errorMessage } from '../shared/errors.ts';
import { IMPLEMENTATION } from '../shared/version.ts';
import { LATEST_HANDSHAKE, MODERN, enveloped, standardHeaders } from '../proxy/protocol.ts';
import { type HttpServerAuth, oauthProvider } from './provider.ts';
import type { AuthRecord, TokenStore } from './store.ts';

export interface LoginOptions {
  /** Where the authorization URL is said, for a person to open when no browser starts. */
  say(line: string): void;
  /** How long to wait for the browser to come back. */
  timeoutMs?: number;
  /** The server's fetch (bounded, endpoints checked): every OAuth request goes through it. */
  fetchFn?: typeof fetch;
}

/**
 * `mcpg auth login`: a fresh authorization in the browser, coming back to a loopback listener
 * (RFC 8252), with the scope the server challenges for plus any a step-up asked for since.
 * The registration is kept while its redirect URI can be served again.
 */
export async function login(server: HttpServerAuth, store: TokenStore, options: LoginOptions): Promise<AuthRecord> {
  const serverUrl = new URL(server.url);
  if (server.oauth?.grant === 'client_credentials') {
    // Machines need no person: fetching a token proves the credentials now.
    const result = await auth(oauthProvider(server, store), { serverUrl, fetchFn: options.fetchFn, ...(await challenge(serverUrl)) }).catch(authError(server));
    if (result !== 'AUTHORIZED') throw new McpgError('BACKEND_AUTH', `server "${server.name}": the authorization server did not issue a token`);
    return store.load(server.name, server.url);
  }
  const before = store.loadOrFresh(server.name, server.url);
  const registered = before.client && 'redirect_uris' in before.client ? before.client.redirect_uris[0] : undefined;
  const listener = await loopback(registered ? Number(new URL(registered).port) : 0).catch(() => loopback(0));
  const redirectUrl = `http://127.0.0.1:${listener.port}/callback`;
  try {
    store.update(server.name, server.url, (r) => {
      r.tokens = undefined;
      r.expiresAt = undefined;
      // A registration for another redirect URI cannot be used from this port.
      if (r.client && 'redirect_uris' in r.client && !r.client.redirect_uris.includes(redirectUrl)) r.client = undefined;
    });
    const provider = oauthProvider(server, store, {
      redirectUrl,
      open: async (url) => {
        if (url.searchParams.get('state') !== provider.state?.()) throw new Error('the authorization URL lost its state');
        options.say(`Open this URL to authorize mcpg for server "${server.name}":\n\n  ${url.href}\n`);
        openBrowser(url.href, options.say);
      },
    });
    const found = await challenge(serverUrl);
    const scope = union(found.scope, before.scope);
    const params = { serverUrl, resourceMetadataUrl: found.resourceMetadataUrl, scope, fetchFn: options.fetchFn };
    let result = await auth(provider, params).catch(authError(server));
    if (result === 'REDIRECT') {
      const { code, iss } = await listener.code(String(await provider.state?.()), options.timeoutMs ?? 300_000);
      checkIssuer(server.name, iss, (await provider.discoveryState?.())?.authorizationServerMetadata);
      result = await auth(provider, { ...params, authorizationCode: code }).catch(authError(server));
    }
    if (result !== 'AUTHORIZED') throw new McpgError('BACKEND_AUTH', `server "${server.name}": authorization did not complete`);
    return store.load(server.name, server.url);
  } finally {
    listener.close();
  }
}

/**
 * The authorization response's `iss` (RFC 9207): when present it must be exactly the issuer of
 * the metadata the login used (no normalization), and a server that advertises it must send it.
 * Otherwise the response may come from another authorization server (a mix-up attack).
 */
function checkIssuer(server: string, iss: string | undefined, metadata: { issuer?: string; authorization_response_iss_parameter_supported?: boolean } | undefined): void {
  const refuse = (why: string) => new McpgError('BACKEND_AUTH', `server "${server}": the authorization response ${why}; mcpg did not use it`);
  if (iss === undefined) {
    if (metadata?.authorization_response_iss_parameter_supported) throw refuse('has no iss, though its authorization server says it sends one');
    return;
  }
  if (iss !== metadata?.issuer) throw refuse(`names issuer ${JSON.stringify(iss)}, not ${JSON.stringify(metadata?.issuer ?? null)}`);
}

/**
 * What the server says when asked without a token: where its metadata is and the scope it wants.
 * Asked with initialize, then (a server that lets anyone introduce themselves) with a 2026
 * tools/list, which a protected server does not answer without a token.
 */
async function challenge(url: URL): Promise<{ resourceMetadataUrl?: URL; scope?: string }> {
  const introduce = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: LATEST_HANDSHAKE, capabilities: {}, clientInfo: IMPLEMENTATION } };
  const list = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: enveloped({}, {}) };
  for (const [message, version] of [[introduce, LATEST_HANDSHAKE], [list, MODERN]] as const) {
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': version, ...standardHeaders(message) },
        body: JSON.stringify(message),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new McpgError('BACKEND_START', `cannot reach ${url.href}: ${errorMessage((err as { cause?: unknown }).cause ?? err)}`);
    }
    await res.body?.cancel();
    if (res.status === 401 || res.status === 403) {
      const { resourceMetadataUrl, scope } = extractWWWAuthenticateParams(res);
      return { resourceMetadataUrl, scope };
    }
  }
  return {};
}

function union(a?: string, b?: string): string | undefined {
  const all = [...new Set(`${a ?? ''} ${b ?? ''}`.split(/\s+/).filter(Boolean))];
  return all.length ? all.join(' ') : undefined;
}

function authError(server: HttpServerAuth) {
  return (err: unknown): never => {
    if (err instanceof McpgError) throw err;
    throw new McpgError('BACKEND_AUTH', `server "${server.name}": authorization failed: ${errorMessage(err)} (a server that takes its credentials in a header instead needs them in its \`headers\`)`, { cause: err });
  };
}

/** `$BROWSER`, else the desktop's opener; the URL is printed either way. */
function openBrowser(url: string, say: (line: string) => void): void {
  const [command, ...args] = (process.env.BROWSER || (process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open')).split(/\s+/);
  try {
    const child = spawn(command!, [...args, url], { stdio: 'ignore', detached: true });
    child.on('error', () => say('(no browser could be started: open the URL above yourself)'));
    child.unref();
  } catch {
    say('(no browser could be started: open the URL above yourself)');
  }
}

interface Loopback {
  port: number;
  /** The authorization code the browser brings back with this state, and the issuer it names. */
  code(state: string, timeoutMs: number): Promise<{ code: string; iss?: string }>;
  close(): void;
}

/** A one-shot listener on 127.0.0.1 for the authorization redirect. */
async function loopback(port: number): Promise<Loopback> {
  let settle: ((r: { code?: string; state?: string; iss?: string; error?: string }) => void) | undefined;
  const arrived = new Promise<{ code?: string; state?: string; iss?: string; error?: string }>((resolve) => (settle = resolve));
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/callback') return res.writeHead(404).end();
    const q = url.searchParams;
    const error = q.get('error') ? `${q.get('error')}${q.get('error_description') ? `: ${q.get('error_description')}` : ''}` : undefined;
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(error ? `mcpg: authorization failed (${error}).` : 'mcpg: authorized. You can close this window.');
    settle?.({ code: q.get('code') ?? undefined, state: q.get('state') ?? undefined, iss: q.get('iss') ?? undefined, error });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    async code(state, timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new McpgError('BACKEND_AUTH', `no answer from the browser within ${timeoutMs / 1000}s`)), timeoutMs);
      });
      try {
        const r = await Promise.race([arrived, timeout]);
        if (r.error) throw new McpgError('BACKEND_AUTH', `the authorization server refused: ${r.error}`);
        // A redirect without our state was not started by this login (RFC 6749 section 10.12).
        if (r.state !== state) throw new McpgError('BACKEND_AUTH', 'the browser came back with another state: not this login');
        if (!r.code) throw new McpgError('BACKEND_AUTH', 'the browser came back without an authorization code');
        return { code: r.code, iss: r.iss };
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => server.close(),
  };
}
