// `mcpg serve`, the streamable HTTP front, in this process on 127.0.0.1 with real backends as
// child processes and the MCP SDK's own client over HTTP. Compliance tests of gh-aw's gateway
// specification (section 11) that apply are named by their ids.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Server, loadConfig } from '../../src/config/load.ts';
import { writeSinkGuard } from '../../src/guard/builtin.ts';
import type { Guard } from '../../src/guard/guard.ts';
import { type Served, serve } from '../../src/http/serve.ts';
import { noopGuard } from '../../src/guard/builtin.ts';
import { configureLog } from '../../src/shared/log.ts';
import { ROOT, fixtureServer, tempDir, writeConfig } from '../helpers/mcpg.ts';

configureLog({ level: 'error', writer: () => {} });

const ALICE = 'alice-token-0123456789';
const BOB = 'bob-token-0123456789';
const PRIVATE = { secrecy: ['private:notes'], integrity: [] };

/** The notes server is private; everything it answers taints a reader (propagate mode). */
function notesGuard(): Guard {
  return {
    name: 'notes-guard',
    labelAgent: async () => ({ agent: { secrecy: [], integrity: [] } }),
    labelResource: async () => ({ resource: { description: 'notes', ...PRIVATE }, operation: 'read' }),
    labelResponse: async () => ({ kind: 'whole' }),
  };
}

async function start(options: { unified?: boolean; mode?: string; gateway?: object } = {}): Promise<Served> {
  const file = writeConfig(tempDir(), {
    gateway: { mode: options.mode ?? 'propagate', agents: { alice: ALICE, bob: BOB }, max_request_mib: 1, ...options.gateway },
    mcpServers: { notes: fixtureServer('tools.ts', 'notes'), sink: fixtureServer('tools.ts', 'sink') },
  });
  return serve({
    config: loadConfig(file),
    listen: '127.0.0.1:0',
    unified: options.unified,
    makeGuard: async (s: Server) => (s.name === 'notes' ? notesGuard() : s.name === 'sink' ? writeSinkGuard('sink', { accept: [] }) : noopGuard()),
  });
}

async function agent(url: string, token: string | undefined) {
  const client = new Client({ name: 'http-agent', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: token ? { Authorization: token } : {} } }));
  return {
    client,
    call: async (name: string, args: Record<string, unknown> = {}) => {
      const r = (await client.request({ method: 'tools/call', params: { name, arguments: args } }, CallToolResultSchema)) as { isError?: boolean; content: { text?: string }[] };
      return { isError: r.isError, text: r.content.map((c) => c.text ?? '').join('\n') };
    },
  };
}

const post = (url: string, headers: Record<string, string>, body: unknown) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };

describe('mcpg serve, routed (default)', () => {
  let served: Served;
  beforeAll(async () => {
    served = await start();
  });
  afterAll(() => served?.close());

  it("T-PTL-001 / T-PTL-003: each server at /mcp/<server> under its own tool names, called through the gateway", async () => {
    const a = await agent(`${served.url}/mcp/sink`, ALICE);
    try {
      const names = (await a.client.listTools()).tools.map((t) => t.name);
      expect(names).toContain('echo');
      expect(names.some((n) => n.includes('___'))).toBe(false);
      expect((await a.call('echo', { text: 'hi' })).text).toBe('sink: hi');
    } finally {
      await a.client.close();
    }
  });

  it("labels belong to the agent: A's read taints A's every session, never B's, on the same gateway", async () => {
    const aNotes = await agent(`${served.url}/mcp/notes`, ALICE);
    const aSink = await agent(`${served.url}/mcp/sink`, ALICE);
    const bSink = await agent(`${served.url}/mcp/sink`, BOB);
    try {
      expect((await aSink.call('echo', { text: 'before' })).isError).toBeFalsy();
      // A reads private data (propagate: allowed, and it taints A).
      expect((await aNotes.call('echo', { text: 'secret' })).text).toBe('notes: secret');
      // A's public write is refused, in the session that read and in another one of A's.
      const refused = await aSink.call('echo', { text: 'leak' });
      expect(refused.isError).toBe(true);
      expect(refused.text).toMatch(/mcpg denied write of "echo" on server "sink": the agent carries secrecy tags the resource does not accept: private:notes/);
      const second = await agent(`${served.url}/mcp/sink`, ALICE);
      try {
        expect((await second.call('echo', { text: 'leak again' })).isError).toBe(true);
      } finally {
        await second.client.close();
      }
      // B, at the same time on the same gateway, is clean.
      expect((await bSink.call('echo', { text: 'fine' })).text).toBe('sink: fine');
      const reflect = await fetch(`${served.url}/reflect`, { headers: { Authorization: BOB } });
      expect(await reflect.json()).toEqual({ agent: 'bob', labels: { secrecy: [], integrity: [] } });
    } finally {
      await Promise.all([aNotes.client.close(), aSink.client.close(), bSink.client.close()]);
    }
  });

  it('T-AUTH-001..003: a valid token is served, an invalid or missing one is 401, a malformed one 400; Bearer is accepted', async () => {
    const ok = await post(`${served.url}/mcp/sink`, { Authorization: `Bearer ${BOB}` }, INIT);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('mcp-session-id')).toMatch(/^[0-9a-f-]{36}$/);
    for (const [headers, status] of [[{ Authorization: 'wrong-token-0000' }, 401], [{}, 401], [{ Authorization: 'Bearer a b' }, 400]] as const) {
      const r = await post(`${served.url}/mcp/sink`, headers, INIT);
      expect(r.status).toBe(status);
      expect(await r.json()).toMatchObject({ error: expect.any(String) });
    }
  });

  it("another agent's session id is no session of its own (404, as an unknown id)", async () => {
    const init = await post(`${served.url}/mcp/sink`, { Authorization: ALICE }, INIT);
    const sid = init.headers.get('mcp-session-id')!;
    const list = { jsonrpc: '2.0', id: 2, method: 'tools/list' };
    const asBob = await post(`${served.url}/mcp/sink`, { Authorization: BOB, 'mcp-session-id': sid }, list);
    expect(asBob.status).toBe(404);
    const elsewhere = await post(`${served.url}/mcp/notes`, { Authorization: ALICE, 'mcp-session-id': sid }, list);
    expect(elsewhere.status).toBe(404);
  });

  it('a call without a session (clients that skip initialize) is served by a session of that request alone', async () => {
    const r = await post(`${served.url}/mcp/sink`, { Authorization: BOB }, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { text: 'stateless' } } });
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ id: 7, result: { content: [{ type: 'text', text: 'sink: stateless' }] } });
  });

  it('DNS rebinding: a Host or Origin that is not mcpg is refused (403)', async () => {
    const { request } = await import('node:http');
    const status = (headers: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const u = new URL(`${served.url}/mcp/sink`);
        const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', Authorization: BOB, ...headers } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.end(JSON.stringify(INIT));
      });
    expect(await status({ host: 'attacker.example:80' })).toBe(403);
    expect(await status({ origin: 'http://attacker.example' })).toBe(403);
    expect(await status({ origin: served.url })).toBe(200);
  });

  it('T-PTL-005: a request body over max_request_mib is refused (413) before it is read whole', async () => {
    const r = await post(`${served.url}/mcp/sink`, { Authorization: BOB }, { ...INIT, params: { ...INIT.params, pad: 'x'.repeat(2 * 1024 * 1024) } });
    expect(r.status).toBe(413);
    expect(await r.json()).toMatchObject({ error: { message: /requests larger than 1048576 bytes are refused/ } });
  });

  it('T-HLT-001, T-HLT-004, T-HLT-006..009, T-AUTH-004: /health needs no token and says versions and each server', async () => {
    const r = await fetch(`${served.url}/health`);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { status: string; specVersion: string; gatewayVersion: string; servers: Record<string, { status: string }> };
    expect(body.status).toBe('healthy');
    expect(body.specVersion).toMatch(/^\d+\.\d+\.\d+$/);
    expect(body.gatewayVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(body.servers).toMatchObject({ notes: { status: 'running' }, sink: { status: 'running' } });
  });

  it("the MCP Inspector's CLI lists and calls tools through mcpg serve", async () => {
    const build = join(ROOT, 'node_modules/@modelcontextprotocol/inspector-cli/build');
    const inspect = async (...args: string[]) => {
      // Run from its build folder: it finds its own package.json relative to the working directory.
      const { stdout } = await promisify(execFile)(process.execPath, [join(build, 'index.js'), `${served.url}/mcp/sink`, '--transport', 'http', '--header', `Authorization: ${BOB}`, ...args], { cwd: build });
      return JSON.parse(stdout) as Record<string, unknown>;
    };
    const tools = (await inspect('--method', 'tools/list')) as { tools: { name: string }[] };
    expect(tools.tools.map((t) => t.name)).toContain('echo');
    expect(await inspect('--method', 'tools/call', '--tool-name', 'echo', '--tool-arg', 'text=inspected')).toMatchObject({ content: [{ type: 'text', text: 'sink: inspected' }] });
  });

  it('/.well-known/oauth-authorization-server is 404: mcpg is not an authorization server', async () => {
    expect((await fetch(`${served.url}/.well-known/oauth-authorization-server`)).status).toBe(404);
  });
});

describe("mcpg serve, servers' requests", () => {
  it('go to the session whose call caused them, and are refused when no call did', async () => {
    const file = writeConfig(tempDir(), { gateway: { agents: { alice: ALICE, bob: BOB } }, mcpServers: { asker: fixtureServer('canary.ts', 'public-words') } });
    const served = await serve({ config: loadConfig(file), listen: '127.0.0.1:0', makeGuard: async () => noopGuard() });
    const seen: string[] = [];
    const connect = async (name: string, token: string) => {
      const client = new Client({ name, version: '1.0.0' }, { capabilities: { sampling: {} } });
      client.setRequestHandler(CreateMessageRequestSchema, async () => {
        seen.push(name);
        return { role: 'assistant', content: { type: 'text', text: `from ${name}` }, model: 'm' };
      });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${served.url}/mcp/asker`), { requestInit: { headers: { Authorization: token } } }));
      return client;
    };
    const a = await connect('alice', ALICE);
    const b = await connect('bob', BOB);
    try {
      const r = (await b.callTool({ name: 'sample', arguments: {} })) as { content: { text: string }[] };
      expect(r.content[0]!.text).toBe('answered: {"type":"text","text":"from bob"}');
      expect(seen).toEqual(['bob']);
      await a.callTool({ name: 'sample_later', arguments: {} });
      await expect.poll(async () => ((await a.callTool({ name: 'later_result', arguments: {} })) as { content: { text: string }[] }).content[0]!.text).toMatch(/^refused: .*no agent's call to this server is in flight/);
      expect(seen).toEqual(['bob']);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await served.close();
    }
  });
});

describe('mcpg serve, per_agent', () => {
  it('a per_agent server runs one process per agent, shared by that agent\'s sessions; other servers one for all', async () => {
    const file = writeConfig(tempDir(), {
      gateway: { agents: { alice: ALICE, bob: BOB } },
      mcpServers: { mine: { ...fixtureServer('tools.ts', 'mine'), per_agent: true }, shared: fixtureServer('tools.ts', 'shared') },
    });
    const served = await serve({ config: loadConfig(file), listen: '127.0.0.1:0', makeGuard: async () => noopGuard() });
    try {
      const pid = async (server: string, token: string) => {
        const a = await agent(`${served.url}/mcp/${server}`, token);
        const r = (await a.call('pid')).text;
        await a.client.close();
        return r;
      };
      const [alice1, alice2, bob] = [await pid('mine', ALICE), await pid('mine', ALICE), await pid('mine', BOB)];
      expect(alice1).toMatch(/^\d+$/);
      expect(alice2).toBe(alice1);
      expect(bob).not.toBe(alice1);
      expect(await pid('shared', ALICE)).toBe(await pid('shared', BOB));
    } finally {
      await served.close();
    }
  });
});

describe('mcpg serve, large answers (payload_dir)', () => {
  it("a result over payload_size_threshold is written under payload_dir/<agent>/ and its path, preview and shape answered instead", async () => {
    const dir = tempDir();
    const served = await start({ mode: 'filter', gateway: { payload_dir: dir, payload_size_threshold: 2000 } });
    try {
      const a = await agent(`${served.url}/mcp/sink`, ALICE);
      expect((await a.call('echo', { text: 'small' })).text).toBe('sink: small');
      const big = 'y'.repeat(5000);
      const meta = JSON.parse((await a.call('echo', { text: big })).text) as { payloadPath: string; payloadPreview: string; payloadSchema: unknown; originalSize: number; agentInstructions: string };
      expect(meta.payloadPath).toMatch(new RegExp(`^${dir}/alice/[0-9a-f]{32}/payload\\.json$`));
      const saved = JSON.parse(readFileSync(meta.payloadPath, 'utf8')) as { content: { text: string }[] };
      expect(saved.content[0]!.text).toBe(`sink: ${big}`);
      expect(statSync(meta.payloadPath).mode & 0o777).toBe(0o600);
      expect(meta.payloadPreview).toHaveLength(500);
      expect(meta.payloadSchema).toEqual({ content: [{ text: 'string', type: 'string' }] });
      expect(meta.originalSize).toBeGreaterThan(5000);
      await a.client.close();
    } finally {
      await served.close();
    }
  });
});

describe('mcpg serve, unified', () => {
  it('one endpoint /mcp with <server>___<tool> names', async () => {
    const served = await start({ unified: true, mode: 'filter' });
    try {
      const a = await agent(`${served.url}/mcp`, ALICE);
      expect((await a.client.listTools()).tools.map((t) => t.name)).toEqual(expect.arrayContaining(['notes___echo', 'sink___echo']));
      expect((await a.call('sink___echo', { text: 'u' })).text).toBe('sink: u');
      await a.client.close();
      expect((await post(`${served.url}/mcp/sink`, { Authorization: ALICE }, INIT)).status).toBe(404);
    } finally {
      await served.close();
    }
  });
});

describe('mcpg serve, lifecycle', () => {
  it('T-LIFE-001..003, T-LIFE-007: /close needs a token, answers 200 once and 410 after; /mcp is then 503', async () => {
    const served = await start();
    expect((await fetch(`${served.url}/close`, { method: 'POST' })).status).toBe(401);
    const first = await fetch(`${served.url}/close`, { method: 'POST', headers: { Authorization: ALICE } });
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ status: 'closed', message: 'Gateway shutdown initiated', serversTerminated: 2 });
    // While it drains (on the connection already open): /close again is 410, /mcp is 503.
    expect((await fetch(`${served.url}/close`, { method: 'POST', headers: { Authorization: ALICE } })).status).toBe(410);
    expect((await post(`${served.url}/mcp/sink`, { Authorization: ALICE }, INIT)).status).toBe(503);
    await served.closed;
    // Closed: nothing listens any more (a new connection is refused).
    await expect(fetch(`${served.url}/health`)).rejects.toThrow();
  });

  it('idle sessions are closed after session_timeout', async () => {
    const served = await start({ gateway: { session_timeout: 1 } });
    try {
      const init = await post(`${served.url}/mcp/sink`, { Authorization: ALICE }, INIT);
      const sid = init.headers.get('mcp-session-id')!;
      await new Promise((r) => setTimeout(r, 2_500));
      expect((await post(`${served.url}/mcp/sink`, { Authorization: ALICE, 'mcp-session-id': sid }, { jsonrpc: '2.0', id: 2, method: 'tools/list' })).status).toBe(404);
    } finally {
      await served.close();
    }
  });

  it('serves https when given a certificate', async () => {
    const tls = join(ROOT, 'test/fixtures/tls');
    const file = writeConfig(tempDir(), { gateway: { agents: { alice: ALICE } }, mcpServers: { sink: fixtureServer('tools.ts', 'sink') } });
    const served = await serve({ config: loadConfig(file), listen: '127.0.0.1:0', tls: { cert: join(tls, 'cert.pem'), key: join(tls, 'key.pem') }, makeGuard: async () => noopGuard() });
    try {
      expect(served.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const { Agent, request } = await import('undici');
      const dispatcher = new Agent({ connect: { ca: readFileSync(join(tls, 'cert.pem')) } });
      const r = await request(`${served.url}/health`, { dispatcher });
      expect(r.statusCode).toBe(200);
      expect(await r.body.json()).toMatchObject({ status: 'healthy' });
      await dispatcher.close();
      // Plain http to the https port is not served.
      await expect(fetch(served.url.replace('https:', 'http:') + '/health')).rejects.toThrow();
    } finally {
      await served.close();
    }
  });

  it('refuses to serve agents it cannot tell apart on an address others can reach', async () => {
    const file = writeConfig(tempDir(), { mcpServers: { sink: fixtureServer('tools.ts', 'sink') } });
    await expect(serve({ config: loadConfig(file), listen: '0.0.0.0:0', makeGuard: async () => noopGuard() })).rejects.toThrow(/\[gateway\] agents: none are named.*loopback address only/);
  });
});

describe('mcpg serve, GET /metrics', () => {
  let served: Served;
  beforeAll(async () => {
    served = await start();
  });
  afterAll(() => served?.close());

  it('GET /metrics: calls by server, tool and decision, the guards\' and servers\' time, sessions; no agent, no data', async () => {
    const metric = async (pattern: RegExp) => Number(pattern.exec(await (await fetch(`${served.url}/metrics`)).text())?.[1] ?? 0);
    const allowed = /^mcpg_calls_total\{server="sink",tool="echo",decision="allow"\} (\d+)$/m;
    const denied = /^mcpg_calls_total\{server="sink",tool="echo",decision="deny"\} (\d+)$/m;
    const [allowedBefore, deniedBefore] = [await metric(allowed), await metric(denied)];
    const bob = await agent(`${served.url}/mcp/sink`, BOB);
    const bobNotes = await agent(`${served.url}/mcp/notes`, BOB);
    try {
      expect((await bob.call('echo', { text: 'metric-marker' })).isError).toBeFalsy();
      await bobNotes.call('echo', { text: 'taint' });
      expect((await bob.call('echo', { text: 'metric-marker' })).isError).toBe(true);
      const res = await fetch(`${served.url}/metrics`);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      expect(await metric(allowed)).toBe(allowedBefore + 1);
      expect(await metric(denied)).toBe(deniedBefore + 1);
      expect(text).toMatch(/^mcpg_backend_seconds_count\{server="sink",method="tools\/call"\} [1-9]/m);
      expect(text).toMatch(/^mcpg_guard_seconds_count\{server="notes",guard="notes-guard",stage="label_resource"\} [1-9]/m);
      expect(text).toMatch(/^mcpg_sessions [1-9]/m);
      expect(text).toMatch(/^mcpg_process_resident_memory_bytes \d+/m);
      for (const secret of ['bob', 'alice', BOB, 'metric-marker', 'private:notes']) expect(text).not.toContain(secret);
    } finally {
      await Promise.all([bob.client.close(), bobNotes.client.close()]);
    }
  });
});

describe('mcpg serve, GET /metrics, the shared state down', () => {
  it('counts every call refused because the shared state cannot be reached', async () => {
    // Nothing listens on port 1: the store cannot be reached from the start.
    const down = await start({ gateway: { state: 'redis://127.0.0.1:1' } });
    const bob = await agent(`${down.url}/mcp/sink`, BOB);
    try {
      for (let i = 0; i < 3; i++) {
        const r = await bob.call('echo', { text: 'x' });
        expect(r.isError).toBe(true);
        expect(r.text).toMatch(/the shared state at redis:\/\/127\.0\.0\.1:1 cannot be reached/);
      }
      const text = await (await fetch(`${down.url}/metrics`)).text();
      expect(/^mcpg_state_errors_total (\d+)$/m.exec(text)?.[1]).toBe('3');
    } finally {
      await bob.client.close();
      await down.close();
    }
  });
});

describe('mcpg serve, [gateway.agent_policies]', () => {
  const policies = { agent_policies: { bob: { servers: ['sink'], tools: ['sink___echo', 'sink___who*'] } } };
  let routed: Served;
  let unified: Served;
  beforeAll(async () => {
    [routed, unified] = await Promise.all([start({ gateway: policies }), start({ gateway: policies, unified: true })]);
  });
  afterAll(async () => {
    await routed?.close();
    await unified?.close();
  });

  it('an agent sees and calls only what its policy gives it; another agent is not limited by it', async () => {
    const blocked = await post(`${routed.url}/mcp/notes`, { Authorization: BOB }, INIT);
    expect(blocked.status).toBe(403);
    expect(await blocked.json()).toEqual({ error: 'agent "bob" may not use server "notes" ([gateway.agent_policies])' });
    const bob = await agent(`${routed.url}/mcp/sink`, BOB);
    const bobAll = await agent(`${unified.url}/mcp`, BOB);
    const alice = await agent(`${unified.url}/mcp`, ALICE);
    try {
      expect((await bob.client.listTools()).tools.map((t) => t.name).sort()).toEqual(['echo', 'whoami']);
      expect((await bob.call('echo', { text: 'ok' })).text).toBe('sink: ok');
      const refused = await bob.call('add', { a: 1, b: 2 });
      expect(refused).toEqual({ isError: true, text: 'mcpg refused "add": agent "bob" may not use it ([gateway.agent_policies])' });
      expect((await bobAll.client.listTools()).tools.map((t) => t.name).sort()).toEqual(['sink___echo', 'sink___whoami']);
      expect((await bobAll.call('notes___echo', { text: 'x' })).text).toMatch(/may not use it/);
      const aliceTools = (await alice.client.listTools()).tools.map((t) => t.name);
      expect(aliceTools).toEqual(expect.arrayContaining(['notes___echo', 'sink___add']));
      expect((await alice.call('sink___add', { a: 1, b: 2 })).text).toBe('3');
    } finally {
      await Promise.all([bob.client.close(), bobAll.client.close(), alice.client.close()]);
    }
  });
});
