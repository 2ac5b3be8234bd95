// OAuth metadata and the token store, as an attacker who writes the metadata or the files
// would have them: endpoints must be https (http only on loopback), the browser gets only such
// URLs, a client secret and the server's own headers go only where they belong, and a damaged
// record, a damaged key or a racing refresh is one server's problem with the fix named.
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { oauthProvider } from '../../src/auth/provider.ts';
import { TokenStore } from '../../src/auth/store.ts';
import { boundedFetch } from '../../src/proxy/bounded-fetch.ts';
import { McpgError } from '../../src/shared/errors.ts';
import { keyFile } from '../../src/shared/user-dirs.ts';
import { inProcess } from '../helpers/in-process.ts';
import { fixtureServer, tempDir } from '../helpers/mcpg.ts';

/** A fetch that records what it was asked to send, and answers 200 {}. */
function recorder() {
  const sent: { url: string; headers: Headers; body: string }[] = [];
  const base = (async (input: string | URL | Request, init?: RequestInit) => {
    sent.push({ url: String(input), headers: new Headers(init?.headers), body: String(init?.body ?? '') });
    return new Response('{}', { headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
  return { sent, base };
}

const server = { url: 'https://mcp.example.com/mcp', maxBytes: 1024 * 1024, who: 'server "notes"', headers: { 'X-Api-Key': 'key-for-the-mcp-server' } };

describe('OAuth endpoints named by metadata', () => {
  it('refuses plain http to a host other than loopback or the server itself, naming the endpoint and the rule', async () => {
    const { sent, base } = recorder();
    const f = boundedFetch(server, base);
    await expect(f('http://auth.example.com/token', { method: 'POST', body: 'grant_type=authorization_code&code=c&code_verifier=v' })).rejects.toThrow(
      'server "notes": mcpg refused to contact http://auth.example.com/token: an endpoint named by server metadata must be https (plain http only on loopback)',
    );
    expect(sent).toEqual([]);
    await f('http://127.0.0.1:8080/token', { method: 'POST' });
    await f('https://auth.example.com/token', { method: 'POST' });
    expect(sent.map((s) => s.url)).toEqual(['http://127.0.0.1:8080/token', 'https://auth.example.com/token']);
  });

  it("sends the server's configured headers to its own origin only", async () => {
    const { sent, base } = recorder();
    const f = boundedFetch(server, base);
    await f('https://mcp.example.com/mcp', { headers: { 'X-Api-Key': 'key-for-the-mcp-server' } });
    await f('https://auth.example.com/.well-known/oauth-authorization-server', { headers: { 'X-Api-Key': 'key-for-the-mcp-server', Accept: 'application/json' } });
    expect(sent[0]!.headers.get('x-api-key')).toBe('key-for-the-mcp-server');
    expect(sent[1]!.headers.get('x-api-key')).toBeNull();
    expect(sent[1]!.headers.get('accept')).toBe('application/json');
  });

  it('sends a client secret only to the server\'s host or the configured authorization server', async () => {
    const { sent, base } = recorder();
    const basic = { authorization: `Basic ${Buffer.from('id:secret').toString('base64')}` };
    const f = boundedFetch({ ...server, secretHosts: ['mcp.example.com', 'login.example.com'] }, base);
    await expect(f('https://evil.example.net/token', { method: 'POST', headers: basic, body: 'grant_type=client_credentials' })).rejects.toThrow(
      /mcpg refused to contact https:\/\/evil\.example\.net\/token: the client secret is sent only to mcp\.example\.com or login\.example\.com \(set oauth\.authorization_server to allow another\)/,
    );
    await expect(f('https://evil.example.net/token', { method: 'POST', body: 'grant_type=client_credentials&client_id=id&client_secret=secret' })).rejects.toThrow(/the client secret is sent only to/);
    await f('https://login.example.com/token', { method: 'POST', headers: basic, body: 'grant_type=client_credentials' });
    // A request without a secret (discovery, a public client's token request) may go anywhere https.
    await f('https://evil.example.net/.well-known/openid-configuration');
    expect(sent.map((s) => s.url)).toEqual(['https://login.example.com/token', 'https://evil.example.net/.well-known/openid-configuration']);
  });

  it('never hands the browser anything but an https (or loopback) URL', async () => {
    const opened: string[] = [];
    const provider = oauthProvider({ name: 'notes', url: server.url }, new TokenStore(tempDir()), { redirectUrl: 'http://127.0.0.1:1/callback', open: async (u) => void opened.push(u.href) });
    for (const url of ['file:///etc/passwd', 'javascript:alert(1)', 'http://auth.example.com/authorize', 'smb://host/share']) {
      await expect(provider.redirectToAuthorization(new URL(url))).rejects.toThrow(/mcpg refused to open the authorization endpoint .*: it must be https \(plain http only on loopback\)/);
    }
    await provider.redirectToAuthorization(new URL('https://auth.example.com/authorize?x=1'));
    expect(opened).toEqual(['https://auth.example.com/authorize?x=1']);
  });
});

describe('the token store', () => {
  it('a flipped byte in one record leaves that server out with the command that repairs it; the others serve', async () => {
    const dir = tempDir();
    const store = new TokenStore(dir);
    store.save({ server: 'notes', url: 'http://127.0.0.1:9/mcp', tokens: { access_token: 'a', token_type: 'Bearer' } });
    const file = join(dir, readdirSync(dir).find((n) => n.endsWith('.token'))!);
    const bytes = readFileSync(file);
    bytes[bytes.length - 3]! ^= 0x01;
    writeFileSync(file, bytes);
    const before = process.env.MCPG_AUTH_DIR;
    process.env.MCPG_AUTH_DIR = dir;
    try {
      const gw = await inProcess({ mcpServers: { notes: { url: 'http://127.0.0.1:9/mcp' }, local: fixtureServer('tools.ts', 'local') } });
      try {
        const names = (await gw.client.listTools()).tools.map((t) => t.name);
        expect(names).toEqual(expect.arrayContaining(['local___echo', 'notes___login_required']));
        const why = await gw.call('notes___login_required');
        expect(why.text).toMatch(/the tokens of server "notes" in .* cannot be read .*: run `mcpg auth logout notes` and `mcpg auth login notes`/);
        expect((await gw.call('local___echo', { text: 'still' })).text).toBe('local: still');
      } finally {
        await gw.close();
      }
    } finally {
      if (before === undefined) delete process.env.MCPG_AUTH_DIR;
      else process.env.MCPG_AUTH_DIR = before;
    }
  });

  it('a key file of the wrong size is replaced, and a login then works again', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'key'), randomBytes(16));
    const key = keyFile(join(dir, 'key'));
    expect(key).toHaveLength(32);
    expect(readFileSync(join(dir, 'key'))).toEqual(key);
    const store = new TokenStore(dir);
    store.update('notes', server.url, (r) => (r.tokens = { access_token: 'new', token_type: 'Bearer' }));
    expect(new TokenStore(dir).load('notes', server.url).tokens?.access_token).toBe('new');
  });

  it('a refresh refused in one process does not wipe the tokens another process rotated meanwhile', async () => {
    const dir = tempDir();
    const store = new TokenStore(dir);
    store.save({ server: 'notes', url: server.url, client: { client_id: 'c' }, tokens: { access_token: 'a1', token_type: 'Bearer', refresh_token: 'r1' } });
    const a = oauthProvider({ name: 'notes', url: server.url }, new TokenStore(dir));
    const b = oauthProvider({ name: 'notes', url: server.url }, new TokenStore(dir));
    expect((await a.tokens())?.refresh_token).toBe('r1');
    expect((await b.tokens())?.refresh_token).toBe('r1');
    // A refreshes first (rotation: r1 is spent); B's refresh with r1 is then refused
    // (invalid_grant), and the SDK asks B's provider to forget its tokens.
    await a.saveTokens({ access_token: 'a2', token_type: 'Bearer', refresh_token: 'r2' });
    await b.invalidateCredentials!('tokens');
    expect(new TokenStore(dir).load('notes', server.url).tokens?.refresh_token).toBe('r2');
    // Tokens nobody replaced are forgotten as before.
    expect((await b.tokens())?.refresh_token).toBe('r2');
    await b.invalidateCredentials!('tokens');
    expect(new TokenStore(dir).load('notes', server.url).tokens).toBeUndefined();
  });

  it('a refusal is an McpgError naming the server (exit 4), never an internal error', async () => {
    const f = boundedFetch(server, recorder().base);
    const err = await f('http://auth.example.com/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(McpgError);
    expect((err as McpgError).exitCode).toBe(4);
  });
});
