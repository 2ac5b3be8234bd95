// mcpg as an OAuth client of a remote server, end to end: an authorization server and an MCP
// server that demands its tokens run on 127.0.0.1 in this process; mcpg logs in through a
// browser that clicks "allow", serves the remote server's tools, refreshes an expired token
// without a person, and never writes a token or secret where a person or a log would see it.
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { join } from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenStore } from '../../src/auth/store.ts';
import { FIXTURES, fixtureServer, mcpgAsync, startGateway, tempDir } from '../helpers/mcpg.ts';

const SECRET = 'client-secret-never-shown';
const grants: string[] = [];
let issued = 0;
let current = '';
let origin = '';

async function body(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return text;
}

/** The authorization server (RFC 8414 metadata, PKCE, refresh) and the protected MCP server. */
async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', origin);
  const json = (status: number, value: unknown, headers: Record<string, string> = {}) =>
    void res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(value));
  if (url.pathname === '/.well-known/oauth-protected-resource/mcp') return json(200, { resource: `${origin}/mcp`, authorization_servers: [origin], scopes_supported: ['notes:read'] });
  if (url.pathname === '/.well-known/oauth-authorization-server') {
    return json(200, {
      issuer: origin,
      authorization_endpoint: `${origin}/authorize`,
      token_endpoint: `${origin}/token`,
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['client_secret_basic'],
    });
  }
  if (url.pathname === '/authorize') {
    const back = new URL(url.searchParams.get('redirect_uri')!);
    back.searchParams.set('code', 'the-code');
    back.searchParams.set('state', url.searchParams.get('state')!);
    return void res.writeHead(302, { location: back.href }).end();
  }
  if (url.pathname === '/token') {
    const form = new URLSearchParams(await body(req));
    if (req.headers.authorization !== `Basic ${Buffer.from(`pre-registered:${SECRET}`).toString('base64')}`) return json(401, { error: 'invalid_client' });
    grants.push(form.get('grant_type')!);
    current = `access-token-${++issued}-SECRET`;
    // Each access token is good for one request: the next one needs a refresh.
    return json(200, { access_token: current, token_type: 'Bearer', expires_in: 3600, refresh_token: 'refresh-token-SECRET', scope: 'notes:read' });
  }
  if (url.pathname === '/mcp') {
    if (req.headers.authorization !== `Bearer ${current}` || !current) {
      return json(401, { error: 'invalid_token' }, { 'www-authenticate': `Bearer resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp", scope="notes:read"` });
    }
    if (req.method === 'POST' && !(await peekIsInitialize(req))) current = `spent-${current}`;
    const server = new McpServer({ name: 'notes', version: '1.0.0' });
    server.registerTool('read_note', { description: 'Reads a note' }, async () => ({ content: [{ type: 'text', text: 'the note' }] }));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    await server.connect(transport);
    return transport.handleRequest(req, res, JSON.parse(pending.get(req) ?? 'null') as unknown);
  }
  res.writeHead(404).end();
}

// The MCP body is read once here (to know a tools/call from the handshake: server/discover, then
// initialize for a server of the 2025 era like this one) and handed on.
const pending = new WeakMap<IncomingMessage, string>();
async function peekIsInitialize(req: IncomingMessage): Promise<boolean> {
  const text = await body(req);
  pending.set(req, text);
  return /"method":"(server\/discover|initialize|notifications\/initialized|tools\/list)"/.test(text);
}

describe('mcpg auth with a remote OAuth server', () => {
  const server = createServer((req, res) => void handle(req, res).catch((e: unknown) => res.writeHead(500).end(String(e))));
  const work = tempDir();
  const authDir = join(work, 'auth');
  const config = join(work, 'mcpg.toml');
  const env = {
    MCPG_AUTH_DIR: authDir,
    NOTES_SECRET: SECRET,
    BROWSER: `${process.execPath} ${join(FIXTURES, 'conformance/browser.ts')}`,
  };

  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const local = fixtureServer('tools.ts', 'local');
    writeFileSync(
      config,
      [
        '[servers.notes]',
        `url = "${origin}/mcp"`,
        'oauth = { client_id = "pre-registered", client_secret = "${NOTES_SECRET}" }',
        '[servers.local]',
        `command = ${JSON.stringify(local.command)}`,
        `args = ${JSON.stringify(local.args)}`,
      ].join('\n'),
    );
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('reports a server not logged in through a tool of its own while the others serve, then logs in, serves and refreshes; no secret is shown', { timeout: 60_000 }, async () => {
    expect((await mcpgAsync(['auth', 'status', '--config', config], env)).stdout).toMatch(/notes .*: not logged in: run `mcpg auth login notes`/);

    // Not logged in: mcpg starts anyway, says what to run, and serves the other server.
    const before = await startGateway(config, [], env);
    try {
      const tools = (await before.client.listTools()).tools.map((t) => t.name);
      expect(tools).toContain('notes___login_required');
      expect(tools).toContain('local___echo');
      expect((await before.call('notes___login_required')).text).toContain('run `mcpg auth login notes`');
      expect((await before.call('local___echo', { text: 'hi' })).text).toBe('local: hi');
      expect(before.stderr()).toMatch(/warn .*server "notes" needs authorization/);
    } finally {
      await before.close();
    }

    const login = await mcpgAsync(['auth', 'login', 'notes', '--config', config], env);
    expect(login.stdout).toBe('server "notes": logged in (scope notes:read)\n');
    expect(login.stderr).toContain(`${origin}/authorize?`);
    expect(grants).toEqual(['authorization_code']);

    const audit = join(work, 'audit.jsonl');
    const gw = await startGateway(config, ['--log-level', 'debug', '--audit-log', audit], env);
    try {
      expect((await gw.call('notes___read_note')).text).toBe('the note');
      // That token is spent: the next call is refused, refreshed without a person, and retried.
      expect((await gw.call('notes___read_note')).text).toBe('the note');
      expect(grants).toEqual(['authorization_code', 'refresh_token']);
    } finally {
      await gw.close();
    }

    // Tokens at rest: a 0700 dir of 0600 files, none holding a token or the secret in the clear.
    expect(statSync(authDir).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(authDir)) {
      expect(statSync(join(authDir, f)).mode & 0o777, f).toBe(0o600);
      expect(readFileSync(join(authDir, f)).toString('latin1')).not.toMatch(/-SECRET|never-shown/);
    }
    expect(new TokenStore(authDir).load('notes', `${origin}/mcp`).tokens?.refresh_token).toBe('refresh-token-SECRET');
    // Nor anywhere a person or a log sees: logs at debug, audit lines, config check, status.
    const check = await mcpgAsync(['config', 'check', config, '--json'], env);
    const status = await mcpgAsync(['auth', 'status', '--config', config], env);
    expect(status.stdout).toMatch(/notes .*: logged in, access token valid until .* \(scope notes:read\)/);
    for (const [what, text] of [['log', gw.stderr()], ['audit', readFileSync(audit, 'utf8')], ['config check', check.stdout + check.stderr], ['status', status.stdout]] as const) {
      expect(text, what).not.toMatch(/-SECRET|never-shown/);
    }
    expect(check.stdout).toContain('${NOTES_SECRET}');

    expect((await mcpgAsync(['auth', 'logout', 'notes', '--config', config], env)).stdout).toBe('server "notes": logged out\n');
    expect((await mcpgAsync(['auth', 'status', '--config', config], env)).stdout).toMatch(/not logged in/);
  });
});
