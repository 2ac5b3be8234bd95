// The wire, both sides: bounded reads, every request answered once, every send settled, limits
// that progress cannot stretch, requests from servers reaching the agent. In process where the
// thing under test allows; start-up and shutdown through `mcpg run`.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  CallToolResultSchema,
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import type { Guard } from '../../src/guard/guard.ts';
import { LineTransport, sniffId } from '../../src/proxy/stdio.ts';
import { inProcess } from '../helpers/in-process.ts';
import { FIXTURES, INITIALIZE, ROOT, fixtureServer, mcpgCommand, mcpgRun, tempDir, writeConfig } from '../helpers/mcpg.ts';
import { seeded } from '../helpers/random.ts';

const EVERYTHING = join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const waitFor = async <T>(f: () => T | undefined, what: string): Promise<T> => {
  for (let i = 0; i < 200; i++) {
    const v = f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no ${what}`);
};

describe('reading lines, bounded', () => {
  it('a line over the limit is discarded as it arrives; its id is found; the next line is read', async () => {
    const input = new PassThrough();
    const t = new LineTransport(input, new PassThrough(), { maxBytes: 1024 * 1024 });
    const got: unknown[] = [];
    const oversize: unknown[] = [];
    t.onmessage = (m) => got.push(m);
    t.onoversize = (id, limit) => oversize.push([id, limit]);
    await t.start();
    // 100 MB in fresh 64 KiB chunks, read as they arrive, id last as the MCP SDK writes it; then
    // a normal message. What the transport holds never passes the limit.
    input.write('{"method":"tools/call","params":{"x":"');
    let held = 0;
    for (let sent = 0; sent < 100 * 1024 * 1024; sent += 64 * 1024) {
      input.write(Buffer.alloc(64 * 1024, 'a'));
      if (sent % (4 * 1024 * 1024) === 0) await new Promise((r) => setImmediate(r));
      held = Math.max(held, t.buffered);
    }
    expect(held).toBeGreaterThan(1024 * 1024 - 64 * 1024);
    expect(held).toBeLessThanOrEqual(1024 * 1024 + 1024);
    input.write('"},"jsonrpc":"2.0","id":41}\n{"jsonrpc":"2.0","id":42,"method":"ping"}\n');
    await waitFor(() => got[0], 'message');
    expect(oversize).toEqual([[41, '1 MiB']]);
    expect(got).toEqual([{ jsonrpc: '2.0', id: 42, method: 'ping' }]);
  });

  it('reads the same messages however the bytes are cut into chunks (characters of several bytes, lines over the limit)', async () => {
    // A seeded stream: messages of 0 to 600 characters, some with characters of 2 to 4 bytes,
    // a few over the 512-byte limit (their ids are reported), blank lines and CRLF between.
    const rand = seeded(7).int;
    const chars = ['a', 'é', '€', '😀', '"', '\\', ' '];
    const lines: string[] = [];
    const want: unknown[] = [];
    const over: unknown[] = [];
    for (let id = 1; id <= 300; id++) {
      const text = Array.from({ length: rand(600) }, () => chars[rand(chars.length)]).join('');
      const line = JSON.stringify({ jsonrpc: '2.0', id, method: 'm', params: { text } });
      if (Buffer.byteLength(line) > 512) over.push(id);
      else want.push(JSON.parse(line));
      lines.push(line + (rand(4) === 0 ? '\r\n\n' : '\n'));
    }
    const bytes = Buffer.from(lines.join(''));
    // The stream holds every case: lines over the limit, CRLF, characters of 2, 3 and 4 bytes.
    expect(over.length).toBeGreaterThan(10);
    expect(lines.filter((l) => l.endsWith('\r\n\n')).length).toBeGreaterThan(10);
    for (const c of ['é', '€', '😀']) expect(lines.filter((l) => l.includes(c)).length).toBeGreaterThan(10);
    for (let round = 0; round < 20; round++) {
      const input = new PassThrough();
      const t = new LineTransport(input, new PassThrough(), { maxBytes: 512 });
      const got: unknown[] = [];
      const oversize: unknown[] = [];
      t.onmessage = (m) => got.push(m);
      t.onoversize = (id) => oversize.push(id);
      await t.start();
      // Cut anywhere: inside a character, on a newline, a byte at a time, many lines at once.
      for (let at = 0; at < bytes.length; ) {
        const size = round === 0 ? 1 : 1 + rand(round < 10 ? 64 : 4096);
        input.write(bytes.subarray(at, at + size));
        at += size;
      }
      await new Promise((r) => setImmediate(r));
      expect(got).toEqual(want);
      expect(oversize).toEqual(over);
    }
  });

  it('finds the id at the start or the end of a message, and nowhere else', () => {
    expect(sniffId('{"jsonrpc":"2.0","id":"a\\"b","method":"x"', '')).toBe('a"b');
    expect(sniffId('{"method":"x","params":{"id":5', '"}},"jsonrpc":"2.0","id":7}')).toBe(7);
    expect(sniffId('{"method":"x","params":{"id":5', '"id":9,"x":1}}')).toBeUndefined();
  });

  it('the lines sent in one turn leave in one write, in order; a later turn writes again', async () => {
    const writes: string[][] = [];
    const sink = new Writable({
      write: (chunk: Buffer, _enc, done) => void (writes.push([chunk.toString()]), done()),
      writev: (chunks, done) => void (writes.push(chunks.map((c) => String(c.chunk))), done()),
    });
    const t = new LineTransport(new PassThrough(), sink, { maxBytes: 1024 });
    await t.start();
    await Promise.all([1, 2, 3].map((id) => t.send({ jsonrpc: '2.0', id, method: 'ping' })));
    await new Promise((r) => setImmediate(r));
    await t.send({ jsonrpc: '2.0', id: 4, method: 'ping' });
    await new Promise((r) => setImmediate(r));
    // A line sent just before the transport closes is written as it closes, not after.
    void t.send({ jsonrpc: '2.0', id: 5, method: 'ping' });
    await t.close();
    const lines = (w: string[]) => w.join('').trimEnd().split('\n');
    expect(writes.map((w) => lines(w).map((line) => (JSON.parse(line) as { id: number }).id))).toEqual([[1, 2, 3], [4], [5]]);
  });

  it('every send settles: one waiting on a reader that never reads fails when the connection closes', async () => {
    const stuck = new Writable({ highWaterMark: 1, write: () => {} });
    const t = new LineTransport(new PassThrough(), stuck, { maxBytes: 1024 });
    await t.start();
    const first = t.send({ jsonrpc: '2.0', method: 'a' });
    const second = t.send({ jsonrpc: '2.0', method: 'b' });
    await t.close();
    await expect(Promise.all([first, second])).rejects.toThrow(/closed before the message was written/);
    await expect(t.send({ jsonrpc: '2.0', method: 'c' })).rejects.toThrow(/closed/);
  });
});

describe('the gateway in process', () => {
  it('refuses an oversized request by id and serves the next call; a backend message over its limit fails the call naming the server', async () => {
    const gw = await inProcess({
      gateway: { max_request_mib: 1 },
      mcpServers: { s: { ...fixtureServer('tools.ts', 's'), max_message_mib: 1 } },
    });
    try {
      gw.write(`{"method":"tools/call","params":{"name":"s___echo","arguments":{"text":"${'y'.repeat(3 * 1024 * 1024)}"}},"jsonrpc":"2.0","id":"raw-1"}\n`);
      const refused = await waitFor(() => gw.lines.find((l) => l.id === 'raw-1'), 'answer');
      expect(refused).toMatchObject({ error: { code: -32600, message: 'messages larger than 1 MiB are refused' } });
      expect((await gw.client.callTool({ name: 's___echo', arguments: { text: 'next' } })).content).toEqual([{ type: 'text', text: 's: next' }]);
      // mcpg's own failure of a call, as for a server that is down: an error result naming the server.
      expect(await gw.call('s___big', { mib: 2 })).toMatchObject({ isError: true, text: 'server "s" answered with a message larger than 1 MiB; it was discarded' });
      expect((await gw.client.callTool({ name: 's___echo', arguments: { text: 'after' } })).content).toEqual([{ type: 'text', text: 's: after' }]);
    } finally {
      await gw.close();
    }
  });

  it('answers every request with an id exactly once: a notification method with an id, a fractional id, an unknown method', async () => {
    const gw = await inProcess({ mcpServers: { s: fixtureServer('tools.ts', 's') } });
    try {
      gw.write('{"jsonrpc":"2.0","id":"raw-cancel","method":"notifications/cancelled","params":{"requestId":1}}\n');
      gw.write('{"jsonrpc":"2.0","id":1.5,"method":"ping"}\n');
      gw.write('{"jsonrpc":"2.0","id":"raw-nope","method":"no/such/method"}\n');
      gw.write('{"jsonrpc":"2.0","id":"raw-ping","method":"ping"}\n');
      await waitFor(() => gw.lines.find((l) => l.id === 'raw-ping'), 'ping answer');
      expect(gw.lines.filter((l) => l.id === 'raw-cancel')).toEqual([
        { jsonrpc: '2.0', id: 'raw-cancel', error: { code: -32600, message: 'Invalid Request: notifications/cancelled is a notification and takes no id' } },
      ]);
      expect(gw.lines.filter((l) => l.id === 'raw-nope')).toEqual([{ jsonrpc: '2.0', id: 'raw-nope', error: { code: -32601, message: 'Method not found: no/such/method' } }]);
      expect(gw.lines.find((l) => l.id === 'raw-ping')).toEqual({ jsonrpc: '2.0', id: 'raw-ping', result: {} });
    } finally {
      await gw.close();
    }
  });

  it('answers a fractional id with -32600 under that id', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const gw = await inProcess({ mcpServers: { s: fixtureServer('tools.ts', 's') } });
    await gw.close();
    // The router itself, on a bare pair of streams: the SDK client would not read id 1.5.
    const { Router } = await import('../../src/proxy/router.ts');
    const t = new LineTransport(input, output, { maxBytes: 1024 });
    const router = new Router(t, 'the agent');
    router.onRequest('ping', async () => ({}));
    await router.start();
    let out = '';
    output.on('data', (d: Buffer) => (out += d.toString()));
    input.write('{"jsonrpc":"2.0","id":1.5,"method":"ping"}\n');
    await waitFor(() => (out.includes('\n') ? out : undefined), 'answer');
    expect(JSON.parse(out)).toEqual({ jsonrpc: '2.0', id: 1.5, error: { code: -32600, message: 'Invalid Request: a numeric id must be an integer' } });
  });

  it('times each request out by its own deadlines (idle, and in all), tells the server, and ends no other', async () => {
    const { Router } = await import('../../src/proxy/router.ts');
    const input = new PassThrough();
    const output = new PassThrough();
    const router = new Router(new LineTransport(input, output, { maxBytes: 1024 }), 'server "mute"');
    await router.start();
    let sent = '';
    output.on('data', (d: Buffer) => (sent += d.toString()));
    const ended: string[] = [];
    const end = (name: string, p: Promise<unknown>) => p.then(() => ended.push(`${name} answered`), (err: Error) => ended.push(`${name}: ${err.message}`));
    // The later deadline first: the one after it must still end first. A request answered in time ends no other.
    const slow = end('slow', router.request('tools/call', {}, { timeoutMs: 600 }));
    const answered = end('answered', router.request('ping', {}, { timeoutMs: 100 }));
    input.write('{"jsonrpc":"2.0","id":"mcpg-2","result":{}}\n');
    const quick = end('quick', router.request('tools/call', {}, { timeoutMs: 20_000, maxTotalMs: 150 }));
    await Promise.all([slow, answered, quick]);
    expect(ended).toEqual([
      'answered answered',
      'quick: server "mute" did not finish tools/call within 0.15s in all',
      'slow: server "mute" did not answer tools/call within 0.6s',
    ]);
    // The server is told of each request given up.
    const cancelled = sent.trim().split('\n').map((l) => JSON.parse(l) as { method?: string; params?: { requestId?: string } }).filter((m) => m.method === 'notifications/cancelled');
    expect(cancelled.map((m) => m.params?.requestId)).toEqual(['mcpg-3', 'mcpg-1']);
  });

  it('times a request by its own deadline when the timer was set for one that settled, shorter or longer', async () => {
    const { Router } = await import('../../src/proxy/router.ts');
    const input = new PassThrough();
    const router = new Router(new LineTransport(input, new PassThrough(), { maxBytes: 1024 }), 'server "mute"');
    await router.start();
    const ended: string[] = [];
    const end = (name: string, p: Promise<unknown>) => p.then(() => ended.push(`${name} answered`), (err: Error) => ended.push(`${name}: ${err.message}`));
    // Answered at once: the timer set for its deadline (400 ms) stays set.
    const answered = end('answered', router.request('ping', {}, { timeoutMs: 400 }));
    input.write('{"jsonrpc":"2.0","id":"mcpg-1","result":{}}\n');
    await answered;
    // Later than that deadline (the timer, firing, is set again for it) and earlier (set at once).
    const later = end('later', router.request('tools/call', {}, { timeoutMs: 1000 }));
    const earlier = end('earlier', router.request('tools/call', {}, { timeoutMs: 50 }));
    const marker = new Promise<void>((resolve) => setTimeout(() => resolve(void ended.push('250 ms')), 250));
    await Promise.all([later, earlier, marker]);
    expect(ended).toEqual(['answered answered', 'earlier: server "mute" did not answer tools/call within 0.05s', '250 ms', 'later: server "mute" did not answer tools/call within 1s']);
    await router.close();
  });

  it('errors reach SDK clients with one prefix, the plain message on the wire', async () => {
    const gw = await inProcess({ mcpServers: { s: fixtureServer('tools.ts', 's') } });
    try {
      await expect(gw.client.callTool({ name: 'nosuch___tool' })).rejects.toThrow(/^MCP error -32602: unknown tool "nosuch___tool"$/);
    } finally {
      await gw.close();
    }
  });

  it('progress keeps a call alive past tool_timeout, but not past max_total_timeout', async () => {
    const gw = await inProcess({ mcpServers: { s: { ...fixtureServer('tools.ts', 's'), tool_timeout: 0.3, max_total_timeout: 1 } } });
    try {
      const call = (steps: number) =>
        gw.client.request({ method: 'tools/call', params: { name: 's___ticking', arguments: { steps, ms: 100 } } }, CallToolResultSchema, {
          onprogress: () => {},
          resetTimeoutOnProgress: true,
        });
      // 5 x 100 ms: longer than tool_timeout, alive through progress.
      expect((await call(5)).content).toEqual([{ type: 'text', text: 'ticked' }]);
      // 40 x 100 ms: progress all along, stopped at 1 s in all.
      const r = await call(40);
      expect(r.isError).toBe(true);
      expect(r.content).toEqual([{ type: 'text', text: 'server "s" did not finish tools/call within 1s in all' }]);
    } finally {
      await gw.close();
    }
  });

  it('introduces the agent to backends with its capabilities: sampling, elicitation and roots requests reach it and are answered', async () => {
    const capabilities = { sampling: {}, elicitation: {}, roots: { listChanged: true } };
    const answers = (client: Client) => {
      client.setRequestHandler(CreateMessageRequestSchema, async () => ({ model: 'test-model', role: 'assistant', content: { type: 'text', text: 'sampled by the agent' } }));
      client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { color: 'green' } }));
      client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: 'file:///work/project', name: 'project' }] }));
    };
    // The tools the server offers a client with these capabilities, directly.
    const direct = new Client({ name: 'direct', version: '1' }, { capabilities });
    answers(direct);
    await direct.connect(new StdioClientTransport({ command: process.execPath, args: [EVERYTHING, 'stdio'], stderr: 'ignore' }));
    const directTools = (await direct.listTools()).tools.map((t) => t.name).sort();
    await direct.close();

    const gw = await inProcess({ mcpServers: { ev: { command: process.execPath, args: [EVERYTHING, 'stdio'] } } }, { capabilities, setup: answers });
    try {
      const tools = (await gw.client.listTools()).tools.map((t) => t.name.replace(/^ev___/, '')).sort();
      expect(tools).toEqual(directTools);
      expect(tools).toEqual(expect.arrayContaining(['trigger-sampling-request', 'trigger-elicitation-request', 'get-roots-list']));
      const sampled = await gw.client.callTool({ name: 'ev___trigger-sampling-request', arguments: { prompt: 'hi', maxTokens: 5 } });
      expect(JSON.stringify(sampled.content)).toContain('sampled by the agent');
      const elicited = await gw.client.callTool({ name: 'ev___trigger-elicitation-request', arguments: {} });
      expect(JSON.stringify(elicited.content)).toMatch(/accept/);
      const roots = await gw.client.callTool({ name: 'ev___get-roots-list', arguments: {} });
      expect(JSON.stringify(roots.content)).toContain('file:///work/project');
      // Each request from the server went through its guard and the audit, as calls do.
      expect(gw.log()).not.toMatch(/does not support/);
    } finally {
      await gw.close();
    }
  });

  it('without the capability, a server request is refused and the server is not told the agent has it', async () => {
    const gw = await inProcess({ mcpServers: { ev: { command: process.execPath, args: [EVERYTHING, 'stdio'] } } });
    try {
      const tools = (await gw.client.listTools()).tools.map((t) => t.name);
      expect(tools).not.toContain('ev___trigger-sampling-request');
    } finally {
      await gw.close();
    }
  });

  it('logging: setLevel reaches the servers, their messages reach the agent named after the server; completions are routed', async () => {
    const gw = await inProcess({ mcpServers: { ev: { command: process.execPath, args: [EVERYTHING, 'stdio'] } } });
    try {
      const messages: { logger?: string }[] = [];
      gw.client.setNotificationHandler(LoggingMessageNotificationSchema, async (n) => void messages.push(n.params));
      await gw.client.setLoggingLevel('debug');
      await gw.client.callTool({ name: 'ev___toggle-simulated-logging', arguments: {} });
      const first = await waitFor(() => messages[0], 'log message');
      expect(first.logger).toMatch(/^ev(\/|$)/);
      const done = await gw.client.complete({ ref: { type: 'ref/prompt', name: 'ev___completable-prompt' }, argument: { name: 'department', value: 'E' } });
      expect(done.completion.values).toContain('Engineering');
    } finally {
      await gw.close();
    }
  });
});

describe('modes', () => {
  it("the user's mode wins over a guard's difc_mode, with a warning; without one the guard's applies", async () => {
    const proposing = async (): Promise<Guard> => ({
      name: 'proposer',
      labelAgent: async () => ({ agent: { secrecy: [], integrity: [] }, difcMode: 'filter' }),
      labelResource: async () => ({ resource: { description: 'x', secrecy: [], integrity: [] }, operation: 'read' }),
      labelResponse: async () => ({ kind: 'whole' }),
    });
    // A call makes the agent's labels (label_agent), which is when the mode is chosen.
    const chosen = await inProcess({ gateway: { mode: 'strict' }, mcpServers: { s: fixtureServer('tools.ts', 's') } }, { makeGuard: proposing });
    await chosen.client.callTool({ name: 's___echo', arguments: { text: 'x' } });
    await chosen.close();
    expect(chosen.log()).toMatch(/server "s": guard "proposer" asks for filter mode; \[gateway\] mode sets strict, which applies/);
    expect(chosen.log()).toMatch(/server "s": strict mode \(\[gateway\] mode\)/);
    const proposed = await inProcess({ mcpServers: { s: fixtureServer('tools.ts', 's') } }, { makeGuard: proposing });
    await proposed.client.callTool({ name: 's___echo', arguments: { text: 'x' } });
    await proposed.close();
    expect(proposed.log()).toMatch(/server "s": filter mode \(guard "proposer"'s difc_mode\)/);
  });
});

describe('start-up and shutdown', () => {
  /** mcpg with a server that never answers initialize; returns the pids the server wrote. */
  async function stuckStart(stop: (child: ReturnType<typeof spawn>) => void, agentSaysHello = true) {
    const dir = tempDir();
    const pids = join(dir, 'pids.json');
    const config = writeConfig(dir, { mcpServers: { stuck: { command: process.execPath, args: [join(FIXTURES, 'servers/stuck.ts'), pids] } } });
    const { command, args } = mcpgCommand();
    const child = spawn(command, [...args, 'run', '--config', config], { stdio: ['pipe', 'ignore', 'pipe'] });
    if (agentSaysHello) child.stdin.write(`${JSON.stringify(INITIALIZE)}\n`);
    const started = await waitFor(() => (existsSync(pids) && readFileSync(pids, 'utf8') ? (JSON.parse(readFileSync(pids, 'utf8')) as { server: number; grandchild: number }) : undefined), 'server pids');
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    stop(child);
    return { code: await exited, ...started };
  }
  /** Running, not a zombie waiting to be reaped (a zombie runs nothing). */
  const alive = (pid: number) => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };

  it('SIGTERM during start-up ends mcpg, the server that ignores its stdin, and what that server started', async () => {
    const r = await stuckStart((child) => child.kill('SIGTERM'));
    expect(r.code).toBe(0);
    expect(alive(r.server)).toBe(false);
    expect(alive(r.grandchild)).toBe(false);
  });

  it('the agent closing stdin during start-up does the same', async () => {
    const r = await stuckStart((child) => child.stdin!.end());
    expect(r.code).toBe(0);
    expect(alive(r.server)).toBe(false);
    expect(alive(r.grandchild)).toBe(false);
  });

  it("servers' processes start before the agent's initialize (they boot meanwhile), and end with an agent that leaves before it", async () => {
    const r = await stuckStart((child) => child.stdin!.end(), false);
    expect(r.code).toBe(0);
    expect(alive(r.server)).toBe(false);
    expect(alive(r.grandchild)).toBe(false);
  });

  it('an HTTP server that is down is named with the address and the reason', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const config = writeConfig(tempDir(), { mcpServers: { web: { url: `http://127.0.0.1:${port}/mcp` } } });
    const r = await mcpgRun(config);
    expect(r.code).toBe(4);
    expect(r.stderr.trim().split('\n').pop()).toBe(
      `mcpg: server "web" failed to start: cannot reach http://127.0.0.1:${port}/mcp: the connection was refused (is the server running?)`,
    );
  });
});
