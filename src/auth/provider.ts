import { randomBytes } from 'node:crypto';
import type { OAuthClientProvider, OAuthDiscoveryState } from '@modelcontextprotocol/sdk/client/auth.js';
import { ClientCredentialsProvider, PrivateKeyJwtProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { OAuthConfig } from '../config/schema.ts';
import { McpgError } from '../shared/errors.ts';
import { httpsOrLoopback } from '../shared/urls.ts';
import { boundedFetch } from '../proxy/bounded-fetch.ts';
import { VERSION } from '../shared/version.ts';
import { DamagedRecord, type TokenStore } from './store.ts';

/** The server needs a person to authorize mcpg in a browser: `mcpg run` never waits for one. */
export class LoginRequired extends Error {
  readonly server: string;
  constructor(server: string, why = `server "${server}" needs authorization: run \`mcpg auth login ${server}\` (then start the session again)`) {
    super(why);
    this.name = 'LoginRequired';
    this.server = server;
  }
}

export interface HttpServerAuth {
  name: string;
  url: string;
  oauth?: OAuthConfig;
}

/** The login in progress: where the browser comes back to, and how to send it there. */
export interface Interactive {
  redirectUrl: string;
  open(url: URL): Promise<void>;
}

/** The OAuth client for a server: client credentials (machines), or the stored authorization-code client. */
export function oauthProvider(server: HttpServerAuth, store: TokenStore, interactive?: Interactive): OAuthClientProvider {
  const o = server.oauth;
  const scope = o?.scopes?.join(' ');
  if (o?.grant === 'jwt_bearer') return new JwtBearerProvider(o.client_id!, o.assertion!, scope);
  if (o?.grant === 'enterprise') return new EnterpriseProvider(server, scope);
  if (o?.grant === 'client_credentials') {
    // Validated by the schema: a client_id, and a secret or a key.
    if (o.private_key) return new PrivateKeyJwtProvider({ clientId: o.client_id!, privateKey: o.private_key, algorithm: o.signing_alg, clientName: 'mcpg', scope });
    return new ClientCredentialsProvider({ clientId: o.client_id!, clientSecret: o.client_secret!, clientName: 'mcpg', scope });
  }
  return new StoredProvider(server, store, interactive);
}

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/**
 * Workload identity federation (RFC 7523, SEP-1933): a JWT the environment holds (a CI job's
 * OIDC token, a projected service-account token) is the grant; no person, no client secret.
 * A refused grant is reported, not retried or traded for another grant.
 */
class JwtBearerProvider implements OAuthClientProvider {
  readonly #client: OAuthClientInformationMixed;
  readonly #scope?: string;
  readonly #assertion?: string;
  #tokens?: OAuthTokens;
  constructor(clientId: string, assertion: string | undefined, scope: string | undefined, clientSecret?: string) {
    this.#client = { client_id: clientId, ...(clientSecret && { client_secret: clientSecret }) };
    this.#scope = scope;
    this.#assertion = assertion;
  }

  get redirectUrl(): undefined {
    return undefined;
  }

  get clientMetadata(): OAuthClientMetadata {
    const secret = 'client_secret' in this.#client && this.#client.client_secret;
    return { client_name: 'mcpg', redirect_uris: [], grant_types: [JWT_BEARER], token_endpoint_auth_method: secret ? 'client_secret_basic' : 'none', ...(this.#scope && { scope: this.#scope }) };
  }

  clientInformation(): OAuthClientInformationMixed {
    return this.#client;
  }

  saveClientInformation(): void {}

  tokens(): OAuthTokens | undefined {
    return this.#tokens;
  }

  saveTokens(tokens: OAuthTokens): void {
    this.#tokens = tokens;
  }

  redirectToAuthorization(): void {
    throw new Error('the jwt_bearer grant has no browser step');
  }

  saveCodeVerifier(): void {}

  codeVerifier(): string {
    throw new Error('the jwt_bearer grant has no code verifier');
  }

  /** The grant's assertion: the configured JWT (subclasses make theirs). */
  protected async assertion(): Promise<string> {
    return this.#assertion!;
  }

  async prepareTokenRequest(scope?: string): Promise<URLSearchParams> {
    const params = new URLSearchParams({ grant_type: JWT_BEARER, assertion: await this.assertion() });
    if (scope) params.set('scope', scope);
    return params;
  }
}

/**
 * Enterprise-managed authorization (SEP-990): the person's ID token from the company's identity
 * provider is exchanged there (RFC 8693) for an identity assertion grant naming the server's
 * authorization server and the server, which that authorization server takes as a JWT bearer
 * grant (RFC 7523), with the client's own credentials. No browser: the IdP session is the login.
 */
class EnterpriseProvider extends JwtBearerProvider {
  /** What discovery found: the issuer the grant is for, and the server (resource) it is for. */
  #audience?: string;
  #resource?: string;

  readonly #server: HttpServerAuth;

  constructor(server: HttpServerAuth, scope: string | undefined) {
    super(server.oauth!.client_id!, undefined, scope, server.oauth!.client_secret);
    this.#server = server;
  }

  saveDiscoveryState(state: OAuthDiscoveryState): void {
    this.#audience = state.authorizationServerMetadata?.issuer ?? state.authorizationServerUrl;
    this.#resource = state.resourceMetadata?.resource;
  }

  protected override async assertion(): Promise<string> {
    const server = this.#server;
    const o = server.oauth!;
    const endpoint = o.idp_token_endpoint!;
    const refuse = (why: string) => new McpgError('BACKEND_AUTH', `server "${server.name}": the identity provider ${endpoint} ${why}`);
    if (!httpsOrLoopback(new URL(endpoint))) throw refuse('is not https');
    const form = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: o.id_token!,
      subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
      requested_token_type: 'urn:ietf:params:oauth:token-type:id-jag',
      audience: this.#audience ?? new URL(server.url).origin,
      resource: this.#resource ?? server.url,
      client_id: o.idp_client_id!,
      ...(o.idp_client_secret && { client_secret: o.idp_client_secret }),
    });
    // Bounded as every answer mcpg reads from a server is.
    const fetchIdp = boundedFetch({ url: endpoint, maxBytes: 1024 * 1024, who: `the identity provider of server "${server.name}"` });
    const res = await fetchIdp(endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: form.toString(), signal: AbortSignal.timeout(30_000) });
    const answer = (await res.json().catch(() => ({}))) as { access_token?: unknown; issued_token_type?: unknown; error?: unknown };
    if (!res.ok) throw refuse(`refused the token exchange (HTTP ${res.status}${typeof answer.error === 'string' ? `: ${answer.error.slice(0, 100)}` : ''})`);
    if (typeof answer.access_token !== 'string' || answer.issued_token_type !== 'urn:ietf:params:oauth:token-type:id-jag') throw refuse('answered the token exchange without an identity assertion grant');
    return answer.access_token;
  }
}

/**
 * The authorization-code client (PKCE S256, the resource parameter and discovery are the SDK's
 * `auth()`): its registration, tokens and discovery live in the token store, so a login serves
 * every later run and refreshes happen without a person. Without `interactive` (mcpg run) a
 * step that needs a browser throws LoginRequired, after noting the scope the server asked for.
 */
class StoredProvider implements OAuthClientProvider {
  readonly #server: HttpServerAuth;
  readonly #store: TokenStore;
  readonly #interactive?: Interactive;
  #verifier = '';
  /** The tokens this provider last handed the SDK: only those may be invalidated (below). */
  #seen?: OAuthTokens;
  readonly #state = randomBytes(16).toString('base64url');
  /** This provider has discovered the authorization server itself (a login does, once). */
  #discovered = false;

  constructor(server: HttpServerAuth, store: TokenStore, interactive?: Interactive) {
    this.#server = server;
    this.#store = store;
    this.#interactive = interactive;
    this.clientMetadataUrl = server.oauth?.client_metadata_url;
  }

  readonly clientMetadataUrl?: string;

  get redirectUrl(): string {
    // Outside a login there is no listener; the URL is only named, never visited.
    return this.#interactive?.redirectUrl ?? 'http://127.0.0.1/callback';
  }

  get clientMetadata(): OAuthClientMetadata {
    const o = this.#server.oauth;
    // application_type (OpenID registration, SEP-837) is not in the SDK's type.
    return {
      client_name: 'mcpg',
      client_uri: 'https://github.com/mcpg-dev/mcpg',
      software_id: 'mcpg',
      software_version: VERSION,
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: o?.client_secret ? 'client_secret_basic' : 'none',
      // A program on the user's machine, its redirect on loopback (RFC 8252; SEP-837).
      application_type: 'native',
      ...(o?.scopes && { scope: o.scopes.join(' ') }),
    } as OAuthClientMetadata;
  }

  state(): string {
    return this.#state;
  }

  clientInformation(): OAuthClientInformationMixed | undefined {
    const o = this.#server.oauth;
    if (o?.client_id) return { client_id: o.client_id, ...(o.client_secret && { client_secret: o.client_secret }) };
    const stored = this.#load().client;
    if (!stored && !this.#interactive) throw new LoginRequired(this.#server.name);
    return stored;
  }

  saveClientInformation(client: OAuthClientInformationMixed): void {
    this.#update((r) => (r.client = client));
  }

  tokens(): OAuthTokens | undefined {
    this.#seen = this.#load().tokens;
    return this.#seen;
  }

  saveTokens(tokens: OAuthTokens): void {
    this.#update((r) => {
      r.tokens = tokens;
      r.expiresAt = tokens.expires_in !== undefined ? Date.now() + tokens.expires_in * 1000 : undefined;
      r.scope = undefined;
    });
  }

  async redirectToAuthorization(url: URL): Promise<void> {
    // The URL comes from server metadata: the browser is given https (or a loopback) URLs only.
    if (!httpsOrLoopback(url)) {
      throw new McpgError('BACKEND_AUTH', `server "${this.#server.name}": mcpg refused to open the authorization endpoint ${url.href}: it must be https (plain http only on loopback)`);
    }
    if (!this.#interactive) {
      const scope = url.searchParams.get('scope');
      if (scope) this.#update((r) => (r.scope = scope));
      throw new LoginRequired(this.#server.name);
    }
    await this.#interactive.open(url);
  }

  saveCodeVerifier(verifier: string): void {
    this.#verifier = verifier;
  }

  codeVerifier(): string {
    return this.#verifier;
  }

  invalidateCredentials(what: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): void {
    if (what === 'verifier') {
      this.#verifier = '';
      return;
    }
    this.#update((r) => {
      if (what === 'all' || what === 'client') r.client = undefined;
      // Another mcpg may have refreshed meanwhile (rotating the refresh token this one was refused
      // with): its new tokens are not this provider's to forget.
      const mine = JSON.stringify(r.tokens) === JSON.stringify(this.#seen);
      if (what === 'all' || (what === 'tokens' && mine)) {
        r.tokens = undefined;
        r.expiresAt = undefined;
      }
      if (what === 'all' || what === 'discovery') r.discovery = undefined;
    });
  }

  /**
   * What discovery found. Authorization server metadata must name, as its issuer, exactly the
   * issuer the protected resource pointed to (RFC 8414 section 3.3): metadata that names another
   * is not used, before any registration or browser step.
   */
  saveDiscoveryState(state: OAuthDiscoveryState): void {
    const named = state.resourceMetadata?.authorization_servers?.map(String) ?? [];
    const issuer = state.authorizationServerMetadata?.issuer;
    if (named.includes(state.authorizationServerUrl) && issuer !== undefined && issuer !== state.authorizationServerUrl) {
      throw new McpgError(
        'BACKEND_AUTH',
        `server "${this.#server.name}": the authorization server ${state.authorizationServerUrl} serves metadata for issuer ${JSON.stringify(issuer)}; mcpg does not use it (the issuer must be the one the server names)`,
      );
    }
    this.#update((r) => {
      // Another authorization server now (SEP-2352): what the last one issued is not used with it.
      const before = r.discovery?.authorizationServerUrl;
      if (before !== undefined && before !== state.authorizationServerUrl && !this.#server.oauth?.client_id) {
        r.client = undefined;
        r.tokens = undefined;
        r.expiresAt = undefined;
      }
      r.discovery = state;
    });
    this.#discovered = true;
  }

  /**
   * What discovery found last time, so a run does not discover again at each refresh. A login
   * discovers afresh: the server may name another authorization server now (SEP-2352).
   */
  discoveryState(): OAuthDiscoveryState | undefined {
    return this.#interactive && !this.#discovered ? undefined : this.#load().discovery;
  }

  /**
   * The stored record. A damaged one is this server's problem only: `mcpg run` leaves the server
   * out with the command that repairs it; a login starts it afresh.
   */
  #load() {
    if (this.#interactive) return this.#store.loadOrFresh(this.#server.name, this.#server.url);
    try {
      return this.#store.load(this.#server.name, this.#server.url);
    } catch (err) {
      if (err instanceof DamagedRecord) throw new LoginRequired(this.#server.name, err.message);
      throw err;
    }
  }

  #update(change: Parameters<TokenStore['update']>[2]): void {
    this.#store.update(this.#server.name, this.#server.url, change);
  }
}
