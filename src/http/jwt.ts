import { type JsonWebKey, type KeyObject, createPublicKey, verify } from 'node:crypto';
import { McpgError, errorMessage } from '../shared/errors.ts';
import { fetchBytes } from '../supply/fetch.ts';

/** `[gateway] oauth`: mcpg as an OAuth protected resource of one authorization server. */
export interface ResourceOAuth {
  issuer: string;
  audience: string;
  /** Where the issuer's signing keys are; default: its metadata's `jwks_uri`. */
  jwksUrl?: string;
  /** The claim that names the agent (default `sub`). */
  agentClaim: string;
}

/** How far clocks may disagree when `exp` and `nbf` are checked. */
const SKEW_S = 60;
/** A key set is fetched again at most this often (an unknown `kid` asks for a new one). */
const REFRESH_MS = 60_000;
const MAX_JWKS = 1024 * 1024;
const ALGS: Record<string, { hash: string; ec?: boolean; pss?: boolean }> = {
  RS256: { hash: 'sha256' },
  RS384: { hash: 'sha384' },
  RS512: { hash: 'sha512' },
  PS256: { hash: 'sha256', pss: true },
  ES256: { hash: 'sha256', ec: true },
  ES384: { hash: 'sha384', ec: true },
};

export type Verified = { agent: string } | { error: string };

/**
 * Access tokens as JWTs signed by the configured issuer: signature (by `kid`, from the issuer's
 * key set, fetched bounded and cached), `iss`, `aud`, `exp`, `nbf`, and the claim that names the
 * agent. The key set is read from https only (http on loopback).
 */
export class JwtVerifier {
  readonly #config: ResourceOAuth;
  #keys = new Map<string, KeyObject>();
  #fetched = 0;
  #fetching?: Promise<void>;

  constructor(config: ResourceOAuth) {
    this.#config = config;
  }

  static looksLikeJwt(token: string): boolean {
    return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
  }

  async verify(token: string): Promise<Verified> {
    const [h, p, s] = token.split('.') as [string, string, string];
    let header: { alg?: unknown; kid?: unknown };
    let claims: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as typeof header;
      claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      return { error: 'the token is not a JWT' };
    }
    const alg = typeof header.alg === 'string' ? ALGS[header.alg] : undefined;
    if (!alg) return { error: `the token's algorithm ${String(header.alg)} is not accepted` };
    const key = await this.#key(typeof header.kid === 'string' ? header.kid : '');
    if (!key) return { error: 'the token is signed by a key the issuer does not publish' };
    const signed = verify(
      alg.hash,
      Buffer.from(`${h}.${p}`),
      { key, ...(alg.ec && { dsaEncoding: 'ieee-p1363' as const }), ...(alg.pss && { padding: 6, saltLength: 32 }) },
      Buffer.from(s, 'base64url'),
    );
    if (!signed) return { error: 'the token signature does not verify' };
    const now = Date.now() / 1000;
    if (claims.iss !== this.#config.issuer) return { error: 'the token was issued by another issuer' };
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!aud.includes(this.#config.audience)) return { error: 'the token is for another audience' };
    if (typeof claims.exp !== 'number' || claims.exp + SKEW_S < now) return { error: 'the token has expired' };
    if (typeof claims.nbf === 'number' && claims.nbf - SKEW_S > now) return { error: 'the token is not valid yet' };
    const agent = claims[this.#config.agentClaim];
    if (typeof agent !== 'string' || !agent) return { error: `the token has no ${this.#config.agentClaim} claim` };
    return { agent };
  }

  async #key(kid: string): Promise<KeyObject | undefined> {
    if (!this.#keys.has(kid) && Date.now() - this.#fetched > REFRESH_MS) await (this.#fetching ??= this.#load().finally(() => (this.#fetching = undefined)));
    return this.#keys.get(kid) ?? (kid === '' && this.#keys.size === 1 ? [...this.#keys.values()][0] : undefined);
  }

  async #load(): Promise<void> {
    this.#fetched = Date.now();
    try {
      const url = this.#config.jwksUrl ?? String(((await json(`${this.#config.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`)) as { jwks_uri?: unknown }).jwks_uri);
      const set = (await json(url)) as { keys?: (JsonWebKey & { kid?: string })[] };
      const keys = new Map<string, KeyObject>();
      for (const jwk of set.keys ?? []) {
        try {
          keys.set(jwk.kid ?? '', createPublicKey({ key: jwk, format: 'jwk' }));
        } catch {
          // a key of a kind node cannot use: skipped
        }
      }
      this.#keys = keys;
    } catch (err) {
      throw new McpgError('BACKEND_AUTH', `cannot read the signing keys of ${this.#config.issuer}: ${errorMessage(err)}`);
    }
  }
}

/** A small JSON document, through mcpg's one fetch (https, or http on loopback; bounded; timed). */
async function json(url: string): Promise<unknown> {
  const bytes = await fetchBytes(url, { maxBytes: MAX_JWKS, timeoutMs: 10_000, accept: 'application/json' });
  return JSON.parse(Buffer.from(bytes).toString('utf8'));
}
