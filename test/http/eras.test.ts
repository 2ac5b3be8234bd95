// Both eras over HTTP: `mcpg serve` in front of a 2026-only server and a 2025 server, reached by a
// 2026 agent (the SDK v2 client and its streamable HTTP transport, pinned to 2026-07-28: no
// session, each request on its own, a retry on a new HTTP request) and by a 2025 agent (the
// SDK 1.x client, with a session). Each asks its agent something; the agent's answer comes back.
import { Client as Client2026, StreamableHTTPClientTransport as Transport2026 } from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { noopGuard } from '../../src/guard/builtin.ts';
import { type Served, serve } from '../../src/http/serve.ts';
import { configureLog } from '../../src/shared/log.ts';
import { fixtureServer, tempDir, writeConfig } from '../helpers/mcpg.ts';

configureLog({ level: 'error', writer: () => {} });
const TOKEN = 'era-agent-token-0123456789';
const ELICITED = { action: 'accept', content: { name: 'Ada' } };

describe('mcpg serve speaks both eras to agents', () => {
  let served: Served;
  beforeAll(async () => {
    const file = writeConfig(tempDir(), {
      gateway: { agents: { eve: TOKEN } },
      mcpServers: { new: fixtureServer('modern.ts', 'new'), old: fixtureServer('asking.ts', 'old') },
    });
    served = await serve({ config: loadConfig(file), listen: '127.0.0.1:0', unified: true, makeGuard: async () => noopGuard() });
  });
  afterAll(() => served?.close());

  it('a 2026 agent, each request its own: tools, and both servers\' questions as input_required rounds', async () => {
    const client = new Client2026({ name: 'agent-2026', version: '1' }, { capabilities: { elicitation: {} }, versionNegotiation: { mode: { pin: '2026-07-28' } } });
    const asked: unknown[] = [];
    client.setRequestHandler('elicitation/create', async (r) => (asked.push(r.params), ELICITED) as never);
    await client.connect(new Transport2026(new URL(`${served.url}/mcp`), { requestInit: { headers: { Authorization: TOKEN } } }) as never);
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(expect.arrayContaining(['new___ask', 'old___ask']));
      for (const server of ['new', 'old']) {
        const r = await client.callTool({ name: `${server}___ask`, arguments: {} });
        expect(r.content).toEqual([{ type: 'text', text: `${server}: hello Ada` }]);
      }
      expect(asked).toHaveLength(2);
    } finally {
      await client.close();
    }
  });

  it('a 2025 agent with a session: the 2026 server\'s input_required reaches it as a request of mcpg\'s', async () => {
    const client = new Client({ name: 'agent-2025', version: '1' }, { capabilities: { elicitation: {} } });
    client.setRequestHandler(ElicitRequestSchema, async () => ELICITED as never);
    await client.connect(new StreamableHTTPClientTransport(new URL(`${served.url}/mcp`), { requestInit: { headers: { Authorization: TOKEN } } }));
    try {
      for (const server of ['new', 'old']) {
        const r = await client.callTool({ name: `${server}___ask`, arguments: {} });
        expect(r.content).toEqual([{ type: 'text', text: `${server}: hello Ada` }]);
      }
    } finally {
      await client.close();
    }
  });

  it('checks a 2026 request at the door, and says a 2026 error\'s kind in the HTTP status', async () => {
    const envelope = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {}, 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' } };
    const post = (method: string, params: object, headers: Record<string, string>) =>
      fetch(`${served.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: TOKEN, 'mcp-protocol-version': '2026-07-28', ...headers },
        body: JSON.stringify({ jsonrpc: '2.0', id: 7, method, params: { ...params, _meta: envelope } }),
      });
    const mismatch = await post('tools/call', { name: 'new___echo', arguments: { text: 'x' } }, { 'mcp-method': 'tools/list', 'mcp-name': 'new___echo' });
    expect(mismatch.status).toBe(400);
    expect(await mismatch.json()).toMatchObject({ id: 7, error: { code: -32020 } });
    const unknown = await post('nothing/here', {}, { 'mcp-method': 'nothing/here' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ id: 7, error: { code: -32601 } });
    const fine = await post('tools/call', { name: 'new___echo', arguments: { text: 'x' } }, { 'mcp-method': 'tools/call', 'mcp-name': 'new___echo' });
    expect(fine.status).toBe(200);
    expect(await fine.json()).toMatchObject({ id: 7, result: { resultType: 'complete', content: [{ text: 'new: x' }], _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'mcpg' } } } });
  });
});
