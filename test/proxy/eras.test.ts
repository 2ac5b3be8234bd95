// Both eras of MCP through one gateway: a server that speaks only 2026-07-28 (written by hand on
// the wire) and one of the 2025 era (the SDK 1.x), driven by a 2026 agent (the SDK v2 client,
// pinned to 2026-07-28) and by a 2025 agent (the SDK 1.x client): four pairs, each with an
// elicitation and a sampling round trip. A 2026 server's input_required reaches a 2025 agent as
// requests of mcpg's; a 2025 server's requests reach a 2026 agent as input_required results.
import { PassThrough } from 'node:stream';
import { Client as ClientV2 } from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, ElicitationCompleteNotificationSchema, LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { type Server, loadConfig } from '../../src/config/load.ts';
import type { Guard } from '../../src/guard/guard.ts';
import { noopGuard } from '../../src/guard/builtin.ts';
import { type Served, serveStdio } from '../../src/proxy/session.ts';
import { HANDSHAKE_VERSIONS, LATEST_HANDSHAKE } from '../../src/proxy/protocol.ts';
import { LineTransport, inheritedEnvironment } from '../../src/proxy/stdio.ts';
import { inProcess } from '../helpers/in-process.ts';
import { fixtureServer, tempDir, writeConfig } from '../helpers/mcpg.ts';

interface Agent {
  call(name: string, args?: Record<string, unknown>): Promise<string>;
  /** Every message the agent received. */
  wire: Record<string, unknown>[];
  /** What the agent was asked, by method. */
  asked: string[];
  close(): Promise<void>;
}

const CONFIG = { mcpServers: { new: fixtureServer('modern.ts', 'new'), old: fixtureServer('asking.ts', 'old') } };
const ELICITED = { action: 'accept', content: { name: 'Ada' } };
const SAMPLED = { role: 'assistant', content: { type: 'text', text: 'yes' }, model: 'm' };

const PRIVATE = { secrecy: ['private:new'], integrity: [] };
const PUBLIC = { secrecy: [], integrity: [] };
/** Server "new" is public to call, but what it asks its client is private. */
const privateQuestions = async (server: Server): Promise<Guard> =>
  server.name !== 'new'
    ? noopGuard()
    : {
        name: 'questions-are-private',
        labelAgent: async () => ({ agent: PUBLIC }),
        labelResource: async (tool) => ({ resource: { description: tool, ...(tool.includes('/') ? PRIVATE : PUBLIC) }, operation: 'read' }),
        labelResponse: async () => ({ kind: 'whole' }),
      };

async function gateway(makeGuard: (server: Server) => Promise<Guard> = async () => noopGuard()): Promise<{ served: Promise<Served>; transport: LineTransport; wire: Record<string, unknown>[] }> {
  const toGateway = new PassThrough();
  const fromGateway = new PassThrough();
  const served = serveStdio({ config: loadConfig(writeConfig(tempDir(), CONFIG)), input: toGateway, output: fromGateway, makeGuard });
  const transport = new LineTransport(fromGateway, toGateway, { maxBytes: 1 << 24 });
  const wire: Record<string, unknown>[] = [];
  return { served, transport, wire };
}

/** Records what reaches the agent before its client reads it. */
function tap(transport: LineTransport, wire: Record<string, unknown>[]): void {
  const read = transport.onmessage!;
  transport.onmessage = (m) => {
    wire.push(m as Record<string, unknown>);
    read(m);
  };
}

/** An agent of either era: the SDK 1.x client (2025), or the SDK v2 client pinned to 2026-07-28. */
async function agent(era: '2025' | '2026', makeGuard?: (server: Server) => Promise<Guard>): Promise<Agent> {
  const { served, transport, wire } = await gateway(makeGuard);
  const asked: string[] = [];
  const answer = (method: string, reply: object) => async () => (asked.push(method), reply) as never;
  const capabilities = { elicitation: {}, sampling: {} };
  let client: Client | ClientV2;
  if (era === '2025') {
    const c = (client = new Client({ name: 'agent-2025', version: '1' }, { capabilities }));
    c.setRequestHandler(ElicitRequestSchema, answer('elicitation/create', ELICITED));
    c.setRequestHandler(CreateMessageRequestSchema, answer('sampling/createMessage', SAMPLED));
    await c.connect(transport);
  } else {
    const c = (client = new ClientV2({ name: 'agent-2026', version: '1' }, { capabilities, versionNegotiation: { mode: { pin: '2026-07-28' } } }));
    c.setRequestHandler('elicitation/create', answer('elicitation/create', ELICITED));
    c.setRequestHandler('sampling/createMessage', answer('sampling/createMessage', SAMPLED));
    await c.connect(transport as never);
  }
  tap(transport, wire);
  const gw = await served;
  return {
    call: async (name, args = {}) => JSON.stringify((await client.callTool({ name, arguments: args })).content),
    wire,
    asked,
    close: async () => (await client.close(), await gw.close()),
  };
}

describe('what mcpg declares for itself, as the MCP SDK it is built with does', () => {
  it('the handshake versions, newest first, and the environment a server inherits', () => {
    expect(HANDSHAKE_VERSIONS).toEqual(SUPPORTED_PROTOCOL_VERSIONS);
    expect(LATEST_HANDSHAKE).toBe(LATEST_PROTOCOL_VERSION);
    const saved = { ...process.env };
    try {
      Object.assign(process.env, { HOME: '/home/x', SHELL: '() { :; }; echo pwned', TERM: 'xterm', SECRET_TOKEN: 'x' });
      expect(inheritedEnvironment()).toEqual(getDefaultEnvironment());
      expect(inheritedEnvironment()).not.toHaveProperty('SHELL');
      expect(inheritedEnvironment()).not.toHaveProperty('SECRET_TOKEN');
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
  });
});

describe('both eras of MCP on both sides of one gateway', () => {
  let a: Agent | undefined;
  afterEach(async () => {
    await a?.close();
    a = undefined;
  });

  for (const era of ['2025', '2026'] as const) {
    it(`a ${era} agent reaches a 2026-only server and a 2025 server, and answers both when they ask`, async () => {
      a = await agent(era);
      for (const server of ['new', 'old']) {
        expect(await a.call(`${server}___echo`, { text: 'hi' })).toContain(`${server}: hi`);
        expect(await a.call(`${server}___ask`)).toContain(`${server}: hello Ada`);
        expect(await a.call(`${server}___sample`)).toContain(`${server}: sampled yes`);
      }
      expect(a.asked).toEqual(['elicitation/create', 'sampling/createMessage', 'elicitation/create', 'sampling/createMessage']);
      // Each agent was asked in its own era: requests of mcpg's, or input_required results.
      const requests = a.wire.filter((m) => m.method === 'elicitation/create' || m.method === 'sampling/createMessage');
      const rounds = a.wire.filter((m) => (m.result as { resultType?: unknown } | undefined)?.resultType === 'input_required');
      expect([requests.length, rounds.length]).toEqual(era === '2025' ? [4, 0] : [0, 4]);
      // The 2026 server was reached in its era, with mcpg's envelope (not the agent's).
      const envelope = JSON.parse(JSON.parse(await a.call('new___envelope'))[0].text);
      expect(envelope).toMatchObject({ 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'mcpg' } });
    });
  }

  for (const era of ['2025', '2026'] as const) {
    it(`a 2026 server's inputRequests pass the choke point: a ${era} agent is not shown a question it may not read`, async () => {
      a = await agent(era, privateQuestions);
      const text = await a.call('new___ask');
      expect(text).toMatch(/mcpg stopped \\"ask\\" on server \\"new\\": mcpg refused elicitation\/create: the agent may not read what it carries \(audit id \d+\)/);
      expect(a.asked).toEqual([]);
      expect(JSON.stringify(a.wire)).not.toContain('new asks your name');
    });
  }

  it('seals its own requestState: a tampered one, one for another request, and an unknown version are refused', async () => {
    const gw = await inProcess(CONFIG, { capabilities: { elicitation: {} } });
    try {
      const envelope = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': { elicitation: {} }, 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' } };
      const send = async (id: string, params: Record<string, unknown>) => {
        gw.write(`${JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { ...params, _meta: envelope } })}\n`);
        await expect.poll(() => gw.lines.some((l) => l.id === id), { timeout: 10_000 }).toBe(true);
        return gw.lines.find((l) => l.id === id)! as { result?: Record<string, unknown>; error?: { code: number; message: string; data?: unknown } };
      };
      const first = await send('raw-1', { name: 'new___ask', arguments: {} });
      // The server's own key for its question is kept.
      expect(first.result).toMatchObject({ resultType: 'input_required', inputRequests: { q: { method: 'elicitation/create' } } });
      const state = first.result!.requestState as string;
      const tampered = `${state.slice(0, -2)}${state.endsWith('AA') ? 'BB' : 'AA'}`;
      const answers = { inputResponses: { q: { action: 'accept', content: { name: 'Ada' } } } };
      expect((await send('raw-2', { name: 'new___ask', arguments: {}, requestState: tampered, ...answers })).error).toMatchObject({ code: -32602, message: expect.stringContaining('requestState is not one mcpg gave this agent') });
      expect((await send('raw-3', { name: 'new___echo', arguments: {}, requestState: state, ...answers })).error).toMatchObject({ code: -32602, message: expect.stringContaining('belongs to another request') });
      expect((await send('raw-4', { name: 'new___ask', arguments: {}, requestState: state, ...answers })).result).toMatchObject({ resultType: 'complete', content: [{ text: 'new: hello Ada' }] });
      // The request has ended: its state continues nothing now.
      expect((await send('raw-5', { name: 'new___ask', arguments: {}, requestState: state, ...answers })).error).toMatchObject({ code: -32602 });
      gw.write(`${JSON.stringify({ jsonrpc: '2.0', id: 'raw-6', method: 'tools/list', params: { _meta: { ...envelope, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } } })}\n`);
      await expect.poll(() => gw.lines.find((l) => l.id === 'raw-6')).toMatchObject({ error: { code: -32022, data: { supported: expect.arrayContaining(['2026-07-28', '2025-11-25']), requested: '2099-01-01' } } });
    } finally {
      await gw.close();
    }
  });

  it('URL-mode elicitation of a 2025 server: the request, its completion (its id alone) and -32042 reach a 2025 agent', async () => {
    const gw = await inProcess(CONFIG, { capabilities: { elicitation: { form: {}, url: {} } }, setup: (c) => c.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept' }) as never) });
    try {
      const completions: unknown[] = [];
      gw.client.setNotificationHandler(ElicitationCompleteNotificationSchema, async (n) => void completions.push(n.params));
      expect((await gw.call('old___pay')).text).toBe('old: paid: accept');
      await expect.poll(() => completions).toEqual([{ elicitationId: 'old-e1' }]);
      await expect(gw.client.callTool({ name: 'old___pay_first', arguments: {} })).rejects.toMatchObject({ code: -32042, data: { elicitations: [{ elicitationId: 'old-e2', url: 'https://pay.example.com/e2' }] } });
    } finally {
      await gw.close();
    }
  });

  it('subscriptions/listen: mcpg listens to a 2026 server, and a 2026 agent hears the list changes and resource updates it asked for, on its listen request, until it ends it', async () => {
    const gw = await inProcess(CONFIG, { capabilities: {} });
    try {
      const envelope = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {}, 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' } };
      const seen: Record<string, unknown>[] = [];
      const transport = gw.client.transport!;
      const sdk = transport.onmessage!;
      transport.onmessage = (m, extra) => (seen.push(m as Record<string, unknown>), sdk(m, extra));
      gw.write(`${JSON.stringify({ jsonrpc: '2.0', id: 'raw-listen', method: 'subscriptions/listen', params: { notifications: { toolsListChanged: true, resourceSubscriptions: ['x://y', 'doc://one'] }, _meta: envelope } })}\n`);
      // No server offers x://y: the acknowledgement names the resource mcpg did subscribe to.
      await expect.poll(() => seen.find((m) => m.method === 'notifications/subscriptions/acknowledged')).toEqual({
        jsonrpc: '2.0',
        method: 'notifications/subscriptions/acknowledged',
        params: { notifications: { toolsListChanged: true, resourceSubscriptions: ['doc://one'] }, _meta: { 'io.modelcontextprotocol/subscriptionId': 'raw-listen' } },
      });
      expect((await gw.call('new___touch')).text).toBe('new: touched, 1 heard');
      await expect.poll(() => seen.filter((m) => m.method === 'notifications/resources/updated')).toEqual([
        { jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'doc://one', _meta: { 'io.modelcontextprotocol/subscriptionId': 'raw-listen' } } },
      ]);
      expect((await gw.call('new___grow')).text).toBe('new: grew');
      await expect.poll(() => seen.find((m) => m.method === 'notifications/tools/list_changed')).toMatchObject({ params: { _meta: { 'io.modelcontextprotocol/subscriptionId': 'raw-listen' } } });
      expect((await gw.client.listTools()).tools.map((t) => t.name)).toContain('new___grown1');
      // The agent ends its listen: mcpg's listen to the server for doc://one ends with it.
      gw.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'raw-listen' } })}\n`);
      await expect.poll(async () => (await gw.call('new___touch')).text).toBe('new: touched, 0 heard');
      await new Promise((r) => setTimeout(r, 200));
      expect(seen.filter((m) => m.method === 'notifications/resources/updated')).toHaveLength(1);
    } finally {
      await gw.close();
    }
  });

  it("a 2026 agent hears a server's log lines during a request only when the request asks for them (its logLevel), at or above that level", async () => {
    const gw = await inProcess({ mcpServers: { everything: fixtureServer('conformance-server.ts') } });
    try {
      const seen: Record<string, unknown>[] = [];
      const transport = gw.client.transport!;
      const sdk = transport.onmessage!;
      transport.onmessage = (m, extra) => (seen.push(m as Record<string, unknown>), sdk(m, extra));
      const call = async (id: string, level?: string) => {
        const _meta = {
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientCapabilities': {},
          'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
          ...(level && { 'io.modelcontextprotocol/logLevel': level }),
        };
        gw.write(`${JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'everything___test_tool_with_logging', arguments: {}, _meta } })}\n`);
        await expect.poll(() => gw.lines.some((l) => l.id === id), { timeout: 10_000 }).toBe(true);
        return seen.filter((m) => m.method === 'notifications/message').length;
      };
      expect(await call('raw-log-1')).toBe(0);
      expect(await call('raw-log-2', 'error')).toBe(0);
      expect(await call('raw-log-3', 'info')).toBe(3);
    } finally {
      await gw.close();
    }
  });

  it('a server\'s protocol can be fixed: 2025-11-25 skips the probe, 2026-07-28 requires it', async () => {
    const start = (servers: object) => inProcess({ mcpServers: servers });
    // The 2026-only server is not asked server/discover, so it cannot be introduced.
    await expect(start({ new: { ...fixtureServer('modern.ts', 'new'), protocol: '2025-11-25' } })).rejects.toThrow(/server "new" failed to start: .*speaks only 2026-07-28/);
    await expect(start({ old: { ...fixtureServer('asking.ts', 'old'), protocol: '2026-07-28' } })).rejects.toThrow(/server "old" failed to start: it did not answer server\/discover for 2026-07-28/);
    const both = await start({ new: { ...fixtureServer('modern.ts', 'new'), protocol: '2026-07-28' }, old: { ...fixtureServer('asking.ts', 'old'), protocol: '2025-11-25' } });
    try {
      expect((await both.call('new___echo', { text: 'a' })).text).toBe('new: a');
      expect((await both.call('old___echo', { text: 'b' })).text).toBe('old: b');
    } finally {
      await both.close();
    }
  });

  it("a 2026 agent that takes tasks gets mcpg's own task for a server's task of either era: its question by tasks/get, its answer by tasks/update, its result once done", async () => {
    const gw = await inProcess(CONFIG, { capabilities: { elicitation: {} } });
    try {
      const envelope = (extensions: object | null) => ({
        'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientCapabilities': { elicitation: {}, ...(extensions && { extensions }) },
        'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
      });
      const tasks = { 'io.modelcontextprotocol/tasks': {} };
      let n = 0;
      const send = async (method: string, params: Record<string, unknown>, extensions: object | null = tasks) => {
        const id = `raw-task-${++n}`;
        gw.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta: envelope(extensions) } })}\n`);
        await expect.poll(() => gw.lines.some((l) => l.id === id), { timeout: 10_000 }).toBe(true);
        return gw.lines.find((l) => l.id === id)! as { result?: Record<string, unknown>; error?: { code: number; message: string; data?: unknown } };
      };
      for (const server of ['new', 'old']) {
        const created = (await send('tools/call', { name: `${server}___later`, arguments: {} })).result!;
        expect(created).toMatchObject({ resultType: 'task', status: 'working', taskId: expect.any(String), pollIntervalMs: expect.any(Number) });
        const taskId = created.taskId as string;
        // mcpg's id, not the server's.
        expect(taskId).not.toContain(server);
        await expect.poll(async () => (await send('tasks/get', { taskId })).result?.status).toBe('input_required');
        const asking = (await send('tasks/get', { taskId })).result!;
        const [key, question] = Object.entries(asking.inputRequests as Record<string, { method: string; params: { message: string } }>)[0]!;
        expect(question.method).toBe('elicitation/create');
        expect(question.params.message).toContain(`${server} asks your name, later`);
        // Without the extension declared, the task's methods are refused with -32021.
        expect((await send('tasks/get', { taskId }, null)).error).toMatchObject({ code: -32021, data: { requiredCapabilities: { extensions: tasks } } });
        expect((await send('tasks/update', { taskId, inputResponses: { [key]: { action: 'accept', content: { name: 'Ada' } } } })).result).toMatchObject({ resultType: 'complete' });
        await expect.poll(async () => (await send('tasks/get', { taskId })).result?.status).toBe('completed');
        expect((await send('tasks/get', { taskId })).result).toMatchObject({ resultType: 'complete', status: 'completed', result: { content: [{ text: `${server}: later hello Ada` }] } });
      }
      // Another agent's id, or one never given, names no task.
      expect((await send('tasks/get', { taskId: 'new-task-1' })).error).toMatchObject({ code: -32602 });
      // An agent that does not take tasks waits for the result of the server's task instead.
      const waited = send('tools/call', { name: 'new___later', arguments: {} }, null);
      await expect.poll(() => gw.lines.find((l) => (l.result as { resultType?: string } | undefined)?.resultType === 'input_required' && JSON.stringify(l).includes('later'))).toBeDefined();
      const round = gw.lines.find((l) => (l.result as { resultType?: string } | undefined)?.resultType === 'input_required' && JSON.stringify(l).includes('later'))!.result as Record<string, unknown>;
      const key = Object.keys(round.inputRequests as object)[0]!;
      const done = await send('tools/call', { name: 'new___later', arguments: {}, requestState: round.requestState, inputResponses: { [key]: { action: 'accept', content: { name: 'Bo' } } } }, null);
      expect(done.result).toMatchObject({ resultType: 'complete', content: [{ text: 'new: later hello Bo' }] });
      await waited;
    } finally {
      await gw.close();
    }
  });

  it("a server's task is labeled as its call is: a question the agent may not read is not shown, and the task ends with mcpg's refusal", async () => {
    const gw = await inProcess(CONFIG, { capabilities: { elicitation: {} }, makeGuard: privateQuestions });
    try {
      const _meta = {
        'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientCapabilities': { elicitation: {}, extensions: { 'io.modelcontextprotocol/tasks': {} } },
        'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
      };
      const send = async (id: string, method: string, params: Record<string, unknown>) => {
        gw.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta } })}\n`);
        await expect.poll(() => gw.lines.some((l) => l.id === id), { timeout: 10_000 }).toBe(true);
        return gw.lines.find((l) => l.id === id)!.result as Record<string, unknown>;
      };
      const { taskId } = await send('raw-p-1', 'tools/call', { name: 'new___later', arguments: {} });
      let i = 1;
      await expect.poll(async () => (await send(`raw-p-get-${++i}`, 'tasks/get', { taskId })).status).toBe('completed');
      const done = await send('raw-p-last', 'tasks/get', { taskId });
      expect(done.result).toMatchObject({ isError: true, content: [{ text: expect.stringContaining('mcpg refused elicitation/create: the agent may not read what it carries') }] });
      expect(JSON.stringify(gw.lines)).not.toContain('asks your name');
    } finally {
      await gw.close();
    }
  });

  it('a task-augmented call runs as a plain one: mcpg offers no tasks, and its result passes the choke point', async () => {
    const gw = await inProcess(CONFIG);
    try {
      gw.write(`${JSON.stringify({ jsonrpc: '2.0', id: 'raw-task', method: 'tools/call', params: { name: 'new___envelope', arguments: {}, task: { ttl: 60000 } } })}\n`);
      await expect.poll(() => gw.lines.find((l) => l.id === 'raw-task')).toBeDefined();
      const text = ((gw.lines.find((l) => l.id === 'raw-task')!.result as { content: { text: string }[] }).content[0]!.text);
      expect(JSON.parse(text).params).toEqual(['_meta', 'arguments', 'name']);
      expect(((await gw.client.getServerCapabilities()) as Record<string, unknown>).tasks).toBeUndefined();
    } finally {
      await gw.close();
    }
  });

  it('a server of the older era that exits when asked server/discover is started again and introduced with initialize', async () => {
    const gw = await inProcess({ mcpServers: { picky: fixtureServer('picky.ts', 'picky'), new: fixtureServer('modern.ts', 'new') } });
    try {
      expect((await gw.call('picky___echo', { text: 'hi' })).text).toBe('picky: hi');
      expect((await gw.call('new___echo', { text: 'hi' })).text).toBe('new: hi');
      expect(gw.log()).toMatch(/\[backend:picky\] exited when asked server\/discover; started again and introduced with initialize/);
    } finally {
      await gw.close();
    }
  });
});
