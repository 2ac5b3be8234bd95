import { type JsonWebKey, createHash, createPrivateKey, generateKeyPairSync, randomUUID, sign } from 'node:crypto';

/**
 * DPoP (RFC 9449, SEP-1932): tokens bound to a key of mcpg's. The token request and every request
 * that presents the token carry a fresh proof, a JWT signed with that key naming the method and
 * URL (and the token's hash); a server that wants a nonce in proofs says so once
 * (`use_dpop_nonce`) and gets it on the retry. The key is kept with the server's tokens, so a
 * later run refreshes and presents them with the same key.
 */
export class DpopKey {
  readonly #private: ReturnType<typeof createPrivateKey>;
  readonly #public: JsonWebKey;
  /** The last nonce each origin gave (RFC 9449 section 8.2: sent from then on). */
  readonly #nonces = new Map<string, string>();

  constructor(privateJwk: JsonWebKey) {
    this.#private = createPrivateKey({ key: privateJwk, format: 'jwk' });
    const { kty, crv, x, y } = privateJwk;
    this.#public = { kty, crv, x, y };
  }

  /** A new P-256 key, as the JWK to keep. */
  static generate(): JsonWebKey {
    return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  }

  /** A proof for one request; `accessToken` when the request presents one. */
  proof(method: string, url: string, accessToken?: string): string {
    const target = new URL(url);
    const htu = `${target.origin}${target.pathname}`;
    const nonce = this.#nonces.get(target.origin);
    const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: this.#public };
    const claims = {
      jti: randomUUID(),
      htm: method.toUpperCase(),
      htu,
      iat: Math.floor(Date.now() / 1000),
      ...(accessToken && { ath: createHash('sha256').update(accessToken).digest('base64url') }),
      ...(nonce && { nonce }),
    };
    const input = `${b64(header)}.${b64(claims)}`;
    return `${input}.${sign('sha256', Buffer.from(input), { key: this.#private, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  }

  /** Keeps the nonce an answer carries; true when the answer asks for the request again with it. */
  noted(url: string, res: Response): boolean {
    const nonce = res.headers.get('dpop-nonce');
    if (!nonce || nonce.length > 1024) return false;
    const origin = new URL(url).origin;
    const fresh = this.#nonces.get(origin) !== nonce;
    this.#nonces.set(origin, nonce);
    const challenge = /use_dpop_nonce/.test(res.headers.get('www-authenticate') ?? '') || res.status === 400;
    return fresh && challenge && (res.status === 400 || res.status === 401);
  }
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
