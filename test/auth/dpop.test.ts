// DPoP proofs as RFC 9449 writes them, checked with the public key the proof carries; the nonce
// a server hands out is used from then on, and an answer is asked again only for a fresh one.
import { createHash, createPublicKey, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DpopKey } from '../../src/auth/dpop.ts';

const parts = (jwt: string) => {
  const [h, p, s] = jwt.split('.');
  return { header: JSON.parse(Buffer.from(h!, 'base64url').toString()), claims: JSON.parse(Buffer.from(p!, 'base64url').toString()), input: `${h}.${p}`, sig: Buffer.from(s!, 'base64url') };
};
const answer = (status: number, headers: Record<string, string>) => new Response(null, { status, headers });

describe('DPoP proofs', () => {
  it('are signed by the key they name, for one method and URL, with the token hash and a fresh jti', () => {
    const key = new DpopKey(DpopKey.generate());
    const a = parts(key.proof('post', 'https://mcp.example.com/mcp?x=1#y', 'the-token'));
    const b = parts(key.proof('POST', 'https://mcp.example.com/mcp'));
    expect(a.header).toMatchObject({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256' } });
    expect(a.header.jwk.d).toBeUndefined();
    expect(a.claims).toMatchObject({ htm: 'POST', htu: 'https://mcp.example.com/mcp', ath: createHash('sha256').update('the-token').digest('base64url') });
    expect(b.claims.ath).toBeUndefined();
    expect(a.claims.jti).not.toBe(b.claims.jti);
    expect(verify('sha256', Buffer.from(a.input), { key: createPublicKey({ key: a.header.jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }, a.sig)).toBe(true);
  });

  it('carry the nonce a server gave; only a fresh nonce with a challenge asks for the request again', () => {
    const key = new DpopKey(DpopKey.generate());
    const url = 'https://as.example.com/token';
    expect(key.noted(url, answer(400, { 'dpop-nonce': 'n-1' }))).toBe(true);
    expect(parts(key.proof('POST', url)).claims.nonce).toBe('n-1');
    // The same nonce again: asking again would loop.
    expect(key.noted(url, answer(400, { 'dpop-nonce': 'n-1' }))).toBe(false);
    // A nonce on a good answer is kept, not a reason to ask again; another origin has its own.
    expect(key.noted(url, answer(200, { 'dpop-nonce': 'n-2' }))).toBe(false);
    expect(parts(key.proof('POST', url)).claims.nonce).toBe('n-2');
    expect(parts(key.proof('POST', 'https://mcp.example.com/mcp')).claims.nonce).toBeUndefined();
    expect(key.noted('https://mcp.example.com/mcp', answer(401, { 'dpop-nonce': 'r-1', 'www-authenticate': 'DPoP error="use_dpop_nonce"' }))).toBe(true);
    // A nonce of more than 1 KiB is not taken.
    expect(key.noted(url, answer(400, { 'dpop-nonce': 'x'.repeat(2000) }))).toBe(false);
    expect(parts(key.proof('POST', url)).claims.nonce).toBe('n-2');
  });
});
