import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INITIALIZE, ROOT, fixtureServer, mcpgCommand, mcpgRun, rawGateway, startGateway, tempDir, writeConfig } from '../helpers/mcpg.ts';
import { type InProcess, inProcess } from '../helpers/in-process.ts';

describe('gateway in process, two fixture backends', () => {
  let gw: InProcess;
  beforeAll(async () => {
    gw = await inProcess({
      mcpServers: {
        alpha: fixtureServer('tools.ts', 'alpha'),
        beta: { ...fixtureServer('tools.ts', 'beta'), tools: ['echo', 'whoami'] },
      },
    });
  });
  afterAll(() => gw?.close());

  it('aggregates tools as <server>___<tool> and routes each call to its server', async () => {
    const { tools } = await gw.client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toContain('alpha___echo');
    expect(names).toContain('beta___echo');
    expect((await gw.call('alpha___echo', { text: 'hi' })).text).toBe('alpha: hi');
    expect((await gw.call('beta___echo', { text: 'hi' })).text).toBe('beta: hi');
    expect((await gw.call('alpha___add', { a: 2, b: 3 })).text).toBe('5');
  });

  it('passes tool schemas through untouched', async () => {
    const { tools } = await gw.client.listTools();
    const echo = tools.find((t) => t.name === 'alpha___echo');
    expect(echo?.description).toBe('echo from alpha');
    expect(echo?.inputSchema).toMatchObject({ type: 'object', properties: { text: { type: 'string' } }, required: ['text'] });
  });

  it('applies a per-server allow-list, and refuses tools outside it with a protocol error', async () => {
    const names = (await gw.client.listTools()).tools.map((t) => t.name).filter((n) => n.startsWith('beta___'));
    expect(names.sort()).toEqual(['beta___echo', 'beta___whoami']);
    await expect(gw.call('beta___add', { a: 1, b: 1 })).rejects.toThrow(/unknown tool "beta___add"/);
    await expect(gw.call('nosuch___tool')).rejects.toThrow(/unknown tool/);
  });

  it('routes prompts by prefix and resources by URI', async () => {
    const { prompts } = await gw.client.listPrompts();
    expect(prompts.map((p) => p.name)).toEqual(expect.arrayContaining(['alpha___greet', 'beta___greet']));
    const p = await gw.client.getPrompt({ name: 'beta___greet', arguments: { who: 'ann' } });
    expect(p.messages[0]?.content).toMatchObject({ text: 'hello ann from beta' });
    const r = await gw.client.readResource({ uri: 'fixture://alpha/info' });
    expect(r.contents[0]).toMatchObject({ text: 'info of alpha' });
  });

  it('forwards progress notifications from the backend to the agent, before the result', async () => {
    // What arrives on the wire, in order: that is mcpg's part. (The SDK's client runs progress
    // handlers a microtask late, so one that arrives in the same read as the result is dropped.)
    const transport = gw.client.transport!;
    const sdk = transport.onmessage!;
    const wire: string[] = [];
    transport.onmessage = (m, extra) => {
      const msg = m as { method?: string; params?: { progress?: number }; result?: unknown };
      wire.push(msg.method === 'notifications/progress' ? `progress ${msg.params?.progress}` : 'result' in msg ? 'result' : String(msg.method));
      sdk(m, extra);
    };
    const seen: number[] = [];
    try {
      const r = await gw.client.callTool({ name: 'alpha___slow', arguments: { steps: 3, ms: 10 } }, undefined, {
        onprogress: (p) => seen.push(p.progress),
      });
      expect(r.content).toEqual([{ type: 'text', text: 'done' }]);
    } finally {
      transport.onmessage = sdk;
    }
    expect(wire).toEqual(['progress 1', 'progress 2', 'progress 3', 'result']);
    expect([1, 2, 3].slice(0, seen.length)).toEqual(seen);
  });

  it('cancels a call on the backend when the agent cancels it, and keeps serving', async () => {
    const ac = new AbortController();
    // 500 steps of 20 ms: it cannot finish while the test looks, it can only be cancelled.
    const pending = gw.client.callTool({ name: 'alpha___slow', arguments: { steps: 500, ms: 20 } }, undefined, { signal: ac.signal });
    await expect.poll(async () => (await gw.call('alpha___slow_state')).text).toBe('running');
    ac.abort('test');
    await expect(pending).rejects.toThrow();
    // The backend itself saw the cancellation (the client rejects on its own either way).
    await expect.poll(async () => (await gw.call('alpha___slow_state')).text, { timeout: 3_000 }).toBe('aborted');
    expect((await gw.call('alpha___echo', { text: 'after' })).text).toBe('alpha: after');
  });

  it('refreshes the aggregate and tells the agent when a backend list changes', async () => {
    const changed = new Promise<void>((resolve) => gw.client.setNotificationHandler(ToolListChangedNotificationSchema, async () => resolve()));
    await gw.call('alpha___grow');
    await changed;
    await expect.poll(async () => (await gw.client.listTools()).tools.map((t) => t.name)).toContain('alpha___grown');
  });

  it('fails calls to a backend that dies, names it, keeps the others, and restarts it on next use', async () => {
    const pid1 = (await gw.call('alpha___pid')).text;
    const crashed = await gw.call('alpha___crash');
    expect(crashed.isError).toBe(true);
    expect(crashed.text).toMatch(/server "alpha" exited/);
    expect((await gw.call('beta___echo', { text: 'still' })).text).toBe('beta: still');
    const pid2 = (await gw.call('alpha___pid')).text;
    expect(pid2).toMatch(/^\d+$/);
    expect(pid2).not.toBe(pid1);
    // A second crash in a row: the restart now waits (backoff), and the error says so.
    expect((await gw.call('alpha___crash')).text).toMatch(/server "alpha" exited/);
    const waiting = await gw.call('alpha___pid');
    expect(waiting.isError).toBe(true);
    expect(waiting.text).toMatch(/server "alpha" is unavailable \(it exited\); next restart attempt in 1s/);
  });

  it('refuses huge arguments with a protocol error and keeps serving', async () => {
    await expect(gw.call('beta___echo', { text: 'x'.repeat(9 * 1024 * 1024) })).rejects.toThrow(/messages larger than 8 MiB are refused/);
    expect((await gw.call('beta___echo', { text: 'ok' })).text).toBe('beta: ok');
  });

});

describe('stdout is the MCP channel', () => {
  it('carries only JSON-RPC messages, even at debug level; diagnostics and backend stderr go to stderr', async () => {
    const config = writeConfig(tempDir(), { mcpServers: { alpha: fixtureServer('tools.ts', 'alpha') } });
    const gw = rawGateway(config, ['--log-level', 'debug']);
    try {
      gw.send(INITIALIZE);
      gw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      gw.send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
      gw.send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'alpha___echo', arguments: { text: 'hi' } } });
      expect(await gw.answer(3)).toMatchObject({ result: { content: [{ text: 'alpha: hi' }] } });
      expect(gw.raw.length).toBeGreaterThanOrEqual(3);
      for (const line of gw.raw) expect(JSON.parse(line)).toMatchObject({ jsonrpc: '2.0' });
      expect(gw.stderr()).toMatch(/\[backend:alpha\] stderr: alpha fixture ready/);
      expect(gw.stderr()).toMatch(/\[gateway\] serving \d+ tools from 1 servers/);
    } finally {
      gw.close();
    }
  });
});

describe('gateway in front of a third-party server from npm', () => {
  it('serves @modelcontextprotocol/server-everything through the gateway', async () => {
    const dir = tempDir();
    const everything = join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
    const gw = await startGateway(writeConfig(dir, { mcpServers: { ev: { command: process.execPath, args: [everything, 'stdio'] } } }));
    try {
      const names = (await gw.client.listTools()).tools.map((t) => t.name);
      expect(names).toContain('ev___echo');
      const r = await gw.call('ev___echo', { message: 'through mcpg' });
      expect(r.text).toContain('through mcpg');
      const sum = await gw.call('ev___get-sum', { a: 20, b: 22 });
      expect(sum.text).toContain('42');
    } finally {
      await gw.close();
    }
  });
});

describe('malformed input from the agent', () => {
  it('answers a line that is not JSON with a parse error and keeps serving', async () => {
    const dir = tempDir();
    const config = writeConfig(dir, { mcpServers: { alpha: fixtureServer('tools.ts', 'alpha') } });
    const { command, args } = mcpgCommand();
    const child = spawn(command, [...args, 'run', '--config', config], { stdio: ['pipe', 'pipe', 'pipe'] });
    const lines: Record<string, unknown>[] = [];
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      for (const p of parts) if (p.trim()) lines.push(JSON.parse(p) as Record<string, unknown>);
    });
    child.stdin.write('this is not json\n');
    child.stdin.write('{"jsonrpc":"2.0","id":"x","method":42}\n');
    child.stdin.write(
      `${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } })}\n`,
    );
    await expect.poll(() => lines.length, { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
    child.kill();
    expect(lines[0]).toMatchObject({ id: null, error: { code: -32700 } });
    expect(lines[1]).toMatchObject({ id: 'x', error: { code: -32600 } });
    expect(lines[2]).toMatchObject({ id: 1, result: { serverInfo: { name: 'mcpg' } } });
  });
});

describe('streamable HTTP backend', () => {
  it('routes calls to an HTTP server with the configured headers', async () => {
    const server = spawn(process.execPath, [join(ROOT, 'test/fixtures/servers/http.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const url = await new Promise<string>((resolve) => server.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())));
      const dir = tempDir();
      const gw = await startGateway(
        writeConfig(dir, {
          mcpServers: { web: { url, headers: { 'X-Test-Token': '${TEST_TOKEN}' } }, alpha: fixtureServer('tools.ts', 'alpha') },
        }),
        [],
        { TEST_TOKEN: 'sesame' },
      );
      try {
        expect((await gw.call('web___echo', { text: 'over http' })).text).toBe('http: over http');
        expect((await gw.call('alpha___echo', { text: 'stdio' })).text).toBe('alpha: stdio');
      } finally {
        await gw.close();
      }
      // Bounded while read: an event (or a JSON body) over max_message_mib fails that call only.
      const bounded = await inProcess(
        { mcpServers: { sse: { url, headers: { 'X-Test-Token': 'sesame' }, max_message_mib: 1 }, json: { url: url.replace('/mcp', '/json'), headers: { 'X-Test-Token': 'sesame' }, max_message_mib: 1 } } },
      );
      try {
        expect(await bounded.call('sse___big', { mib: 2 })).toMatchObject({ isError: true, text: 'server "sse" answered with a message larger than 1 MiB; it was discarded' });
        expect((await bounded.call('sse___echo', { text: 'next' })).text).toBe('http: next');
        expect(await bounded.call('json___big', { mib: 2 })).toMatchObject({ isError: true, text: 'server "json" answered with more than 1 MiB; the answer was discarded' });
        expect((await bounded.call('json___echo', { text: 'next' })).text).toBe('http: next');
      } finally {
        await bounded.close();
      }
      // Credentials the server refuses: a backend error naming the server and the fix, exit 4.
      const refused = await mcpgRun(writeConfig(dir, { mcpServers: { web: { url, headers: { Authorization: 'Bearer wrong' } } } }));
      expect(refused.code).toBe(4);
      expect(refused.stderr).toMatch(/^mcpg: server "web" failed to start: .* refused mcpg's credentials \(HTTP 401: .*\): check its `headers`, or run `mcpg auth login web`$/m);
      expect(refused.stderr).not.toMatch(/internal error|\n\s+at /);
    } finally {
      server.kill();
    }
  });
});
