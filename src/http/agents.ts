import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Who is calling: the agent whose token the request's Authorization header carries. The header
 * holds the token as it is (gh-aw-mcpg's format), or after `Bearer ` or `Agent `. Tokens are
 * compared as SHA-256 digests in constant time, against every agent (no early exit), so
 * neither the time nor the order tells a caller how close it came.
 */
export type Caller = { agent: string } | { status: 401 | 400; error: string };

export class Agents {
  readonly #tokens: { name: string; digest: Buffer }[];
  /** Without agents, one anonymous agent: allowed by `serve` on loopback only. */
  readonly anonymous: boolean;

  constructor(agents: Record<string, string>) {
    this.#tokens = Object.entries(agents).map(([name, token]) => ({ name, digest: digest(token) }));
    this.anonymous = this.#tokens.length === 0;
  }

  get names(): string[] {
    return this.#tokens.map((t) => t.name);
  }

  /** The agent a request's Authorization header names, or the HTTP status that refuses it. */
  identify(header: string | undefined): Caller {
    if (this.anonymous) return { agent: 'anonymous' };
    if (header === undefined || header === '') return { status: 401, error: 'missing Authorization header' };
    const token = /^(Bearer|Agent)\s/i.test(header) ? header.replace(/^\S+\s+/, '').trim() : header.trim();
    if (!token || /[\s\u0000-\u001f]/.test(token)) return { status: 400, error: 'malformed Authorization header' };
    const given = digest(token);
    let found: string | undefined;
    for (const t of this.#tokens) if (timingSafeEqual(t.digest, given) && found === undefined) found = t.name;
    return found === undefined ? { status: 401, error: 'invalid Authorization token' } : { agent: found };
  }
}

const digest = (token: string) => createHash('sha256').update(token).digest();
