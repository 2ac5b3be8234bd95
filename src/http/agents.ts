import { hash, timingSafeEqual } from 'node:crypto';
import { JwtVerifier, type ResourceOAuth } from './jwt.ts';

/**
 * Who is calling: the agent whose token the request's Authorization header carries. The header
 * holds the token as it is (gh-aw-mcpg's format), or after `Bearer ` or `Agent `. Tokens are
 * compared as SHA-256 digests in constant time, against every agent (no early exit), so
 * neither the time nor the order tells a caller how close it came. With `[gateway] oauth`, a JWT
 * access token of the configured issuer names the agent by its claim (jwt.ts).
 */
export type Caller = { agent: string } | { status: 401 | 400; error: string };

export class Agents {
  readonly #tokens: { name: string; digest: Buffer }[];
  readonly #jwt?: JwtVerifier;
  /** Without agents, one anonymous agent: allowed by `serve` on loopback only. */
  readonly anonymous: boolean;

  constructor(agents: Record<string, string>, oauth?: ResourceOAuth) {
    this.#tokens = Object.entries(agents).map(([name, token]) => ({ name, digest: digest(token) }));
    this.#jwt = oauth && new JwtVerifier(oauth);
    this.anonymous = this.#tokens.length === 0 && !oauth;
  }

  get names(): string[] {
    return this.#tokens.map((t) => t.name);
  }

  /** The agent a request's Authorization header names, or the HTTP status that refuses it. */
  async identify(header: string | undefined): Promise<Caller> {
    if (this.anonymous) return { agent: 'anonymous' };
    if (header === undefined || header === '') return { status: 401, error: 'missing Authorization header' };
    const token = /^(Bearer|Agent)\s/i.test(header) ? header.replace(/^\S+\s+/, '').trim() : header.trim();
    if (!token || /[\s\u0000-\u001f]/.test(token)) return { status: 400, error: 'malformed Authorization header' };
    const given = digest(token);
    let found: string | undefined;
    for (const t of this.#tokens) if (timingSafeEqual(t.digest, given) && found === undefined) found = t.name;
    if (found !== undefined) return { agent: found };
    if (this.#jwt && JwtVerifier.looksLikeJwt(token)) {
      const verified = await this.#jwt.verify(token).catch((err: unknown) => ({ error: (err as Error).message }));
      return 'agent' in verified ? verified : { status: 401, error: `invalid access token: ${verified.error}` };
    }
    return { status: 401, error: 'invalid Authorization token' };
  }
}

const digest = (token: string) => hash('sha256', token, 'buffer');
