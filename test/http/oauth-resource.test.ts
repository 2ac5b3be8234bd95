// mcpg serve as an OAuth protected resource: RFC 9728 metadata names the authorization server,
// and a JWT access token of that issuer (signature by the issuer's published keys, iss, aud,
// exp) names the agent by its `sub`. The issuer's key set is served on 127.0.0.1 by the test.
import { type KeyObject, generateKeyPairSync, sign } from 'node:crypto';
import { type Server as HttpServer, createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { noopGuard } from '../../src/guard/builtin.ts';
import { type Served, serve } from '../../src/http/serve.ts';
import { configureLog } from '../../src/shared/log.ts';
import { fixtureServer, tempDir, writeConfig } from '../helpers/mcpg.ts';

configureLog({ level: 'error', writer: () => {} });

const AUDIENCE = 'https://mcpg.example/mcp';
const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });

function jwt(claims: Record<string, unknown>, signer: KeyObject = key.privateKey, kid = 'k1'): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const head = `${enc({ alg: 'ES256', typ: 'JWT', kid })}.${enc(claims)}`;
  return `${head}.${sign('sha256', Buffer.from(head), { key: signer, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

describe('mcpg serve as an OAuth protected resource', () => {
  let idp: HttpServer;
  let issuer: string;
  let served: Served;
  beforeAll(async () => {
    idp = createServer((req, res) => {
      if (req.url !== '/jwks.json') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [{ ...key.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
    });
    await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
    issuer = `http://127.0.0.1:${(idp.address() as { port: number }).port}`;
    const file = writeConfig(tempDir(), { gateway: { oauth: { issuer, audience: AUDIENCE, jwks_url: `${issuer}/jwks.json` } }, mcpServers: { sink: fixtureServer('tools.ts', 'sink') } });
    served = await serve({ config: loadConfig(file), listen: '127.0.0.1:0', makeGuard: async () => noopGuard() });
  });
  afterAll(async () => {
    await served?.close();
    idp?.close();
  });

  const now = () => Math.floor(Date.now() / 1000);
  const reflect = (token: string) => fetch(`${served.url}/reflect`, { headers: { Authorization: `Bearer ${token}` } });

  it('publishes RFC 9728 metadata naming the issuer', async () => {
    const r = await fetch(`${served.url}/.well-known/oauth-protected-resource/mcp/sink`);
    expect(await r.json()).toEqual({ resource: `${served.url}/mcp/sink`, authorization_servers: [issuer], bearer_methods_supported: ['header'] });
  });

  it("a valid token names the agent by its sub; the agent's labels are its own", async () => {
    const r = await reflect(jwt({ iss: issuer, aud: AUDIENCE, sub: 'alice@idp', exp: now() + 300 }));
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ agent: 'alice@idp' });
  });

  it('another audience, an expired token, another key, another issuer: 401, pointing at the metadata', async () => {
    for (const [token, why] of [
      [jwt({ iss: issuer, aud: 'https://elsewhere', sub: 'a', exp: now() + 300 }), /another audience/],
      [jwt({ iss: issuer, aud: AUDIENCE, sub: 'a', exp: now() - 3600 }), /expired/],
      [jwt({ iss: issuer, aud: AUDIENCE, sub: 'a', exp: now() + 300 }, other.privateKey), /signature does not verify/],
      [jwt({ iss: 'https://evil.example', aud: AUDIENCE, sub: 'a', exp: now() + 300 }), /another issuer/],
      [jwt({ iss: issuer, aud: AUDIENCE, exp: now() + 300 }), /no sub claim/],
    ] as const) {
      const r = await reflect(token);
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${served.url}/.well-known/oauth-protected-resource", error="invalid_token"`);
      expect(((await r.json()) as { error: string }).error).toMatch(why);
    }
  });
});
