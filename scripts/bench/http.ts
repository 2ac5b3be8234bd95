// The HTTP front, measured side by side in one run: the same bare HTTP backend reached directly,
// through a bare Node forwarder (the floor: Node's HTTP server and undici, no MCP), and through
// `mcpg serve` (the single executable): added p50/p99 of sequential calls, 64 callers spread over
// 16 agents, and resident memory with 1,000 idle sessions.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Agent, request } from 'undici';
import { redis } from '../../test/helpers/debian-tools.ts';
import { ARGS, pct, us } from './measure.ts';

const dispatcher = new Agent({ keepAliveTimeout: 60_000, connections: 128 });

/** One MCP client over HTTP without the SDK: the client costs the same for every target. */
class HttpRpc {
  #id = 0;
  session?: string;
  readonly url: string;
  readonly token?: string;
  constructor(url: string, token?: string) {
    this.url = url;
    this.token = token;
  }
  async request(method: string, params: object): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    if (this.token) headers.authorization = this.token;
    if (this.session) headers['mcp-session-id'] = this.session;
    const res = await request(this.url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: ++this.#id, method, params }), dispatcher });
    const sid = res.headers['mcp-session-id'];
    if (typeof sid === 'string') this.session = sid;
    const text = await res.body.text();
    // A JSON answer, or the one `data:` line of an event stream.
    const json = text.startsWith('{') ? text : (/^data: (.*)$/m.exec(text)?.[1] ?? '{}');
    return JSON.parse(json) as Record<string, unknown>;
  }
  async start(): Promise<this> {
    await this.request('initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } });
    return this;
  }
  async call(): Promise<number> {
    const t = process.hrtime.bigint();
    const r = await this.request('tools/call', { name: 'get_echo', arguments: ARGS });
    if (r.error || (r.result as { isError?: boolean } | undefined)?.isError) throw new Error(JSON.stringify(r));
    return Number(process.hrtime.bigint() - t);
  }
}

async function firstLine(child: ChildProcess): Promise<string> {
  for await (const line of createInterface({ input: child.stdout! })) return line;
  throw new Error('no output');
}

export async function benchHttp(mcpg: string, work: string, quick: boolean, log: (s: string) => void) {
  const backend = spawn(process.execPath, [join(import.meta.dirname, 'http-echo-server.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const direct = await firstLine(backend);
  const forwarder = spawn(process.execPath, [join(import.meta.dirname, 'http-forwarder.mjs'), direct], { stdio: ['ignore', 'pipe', 'inherit'] });
  const floor = await firstLine(forwarder);
  const agents = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`agent-${i}`, `bench-token-${i}-0123456789`]));
  const config = join(work, 'serve.json');
  writeFileSync(config, JSON.stringify({ gateway: { agents, max_concurrent_calls: 1000 }, mcpServers: { echo: { url: direct } } }));
  // Below Linux's ephemeral range (32768 up), where the callers' own connections take ports.
  const port = 20_000 + Math.floor(Math.random() * 12_000);
  const gateway = spawn(mcpg, ['serve', '--config', config, '--listen', `127.0.0.1:${port}`, '--log-level', 'error'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const front = `http://127.0.0.1:${port}/mcp/echo`;
  for (let i = 0; i < 200; i++) {
    if ((await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.status, () => 0)) === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    // 1. Sequential latency, rounds alternating.
    const calls = quick ? 600 : 3000;
    const d = await new HttpRpc(direct).start();
    const f = await new HttpRpc(floor).start();
    const m = await new HttpRpc(front, agents['agent-0']).start();
    for (let i = 0; i < 200; i++) await Promise.all([d.call(), f.call(), m.call()]).catch(() => {});
    const seq = { direct: [] as number[], floor: [] as number[], mcpg: [] as number[] };
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < calls / 6; i++) seq.direct.push(await d.call());
      for (let i = 0; i < calls / 6; i++) seq.floor.push(await f.call());
      for (let i = 0; i < calls / 6; i++) seq.mcpg.push(await m.call());
    }
    const added = (xs: number[], p: number) => us(pct(xs, p) - pct(seq.direct, p));
    const added50 = added(seq.mcpg, 50);
    const added99 = added(seq.mcpg, 99);
    log(`   sequential: direct p50 ${us(pct(seq.direct, 50))} µs; through mcpg serve p50 ${us(pct(seq.mcpg, 50))} µs (added p50 ${added50} µs, p99 ${added99} µs)`);
    log(`   the floor, a bare Node forwarder with no MCP: p50 ${us(pct(seq.floor, 50))} µs (added p50 ${added(seq.floor, 50)} µs, p99 ${added(seq.floor, 99)} µs)`);

    // 2. 64 callers, spread over 16 agents (4 sessions each), against 64 callers direct.
    const total = quick ? 1280 : 6400;
    const rate = async (clients: HttpRpc[]) => {
      let next = 0;
      const start = process.hrtime.bigint();
      await Promise.all(clients.map(async (c) => {
        while (next++ < total) await c.call();
      }));
      return Math.round(total / (Number(process.hrtime.bigint() - start) / 1e9));
    };
    const directClients = await Promise.all(Array.from({ length: 64 }, () => new HttpRpc(direct).start()));
    const floorClients = await Promise.all(Array.from({ length: 64 }, () => new HttpRpc(floor).start()));
    const frontClients = await Promise.all(Array.from({ length: 64 }, (_, i) => new HttpRpc(front, agents[`agent-${i % 16}`]).start()));
    const directRate = await rate(directClients);
    const floorRate = await rate(floorClients);
    const frontRate = await rate(frontClients);
    log(`   64 callers (16 agents): direct ${directRate} calls/s, through mcpg serve ${frontRate} calls/s (${(frontRate / directRate).toFixed(2)}x direct); the bare forwarder ${floorRate} calls/s (${(floorRate / directRate).toFixed(2)}x)`);

    // 3. Resident memory with 1,000 idle sessions, in a gateway of its own (not the one the
    // load above grew).
    const idlePort = port + 1;
    const idle = spawn(mcpg, ['serve', '--config', config, '--listen', `127.0.0.1:${idlePort}`, '--log-level', 'error'], { stdio: ['ignore', 'ignore', 'inherit'] });
    let before = 0;
    let after = 0;
    try {
      for (let i = 0; i < 200; i++) {
        if ((await fetch(`http://127.0.0.1:${idlePort}/health`).then((r) => r.status, () => 0)) === 200) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const idleFront = `http://127.0.0.1:${idlePort}/mcp/echo`;
      await (await new HttpRpc(idleFront, agents['agent-0']).start()).call();
      before = rss(idle.pid!);
      for (let i = 0; i < 1000; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => new HttpRpc(idleFront, agents[`agent-${(i + j) % 16}`]).start()));
      after = rss(idle.pid!);
    } finally {
      idle.kill();
    }
    log(`   1,000 idle sessions: RSS ${after} MiB (${before} MiB before them)`);

    // 4. The shared state: the same gateway with its agents' labels in Redis ([gateway] state),
    // against the in-memory one above, sequential calls in alternating rounds.
    const store = await redis();
    const sharedConfig = join(work, 'serve-redis.json');
    writeFileSync(sharedConfig, JSON.stringify({ gateway: { agents, max_concurrent_calls: 1000, state: store.url }, mcpServers: { echo: { url: direct } } }));
    const sharedPort = port + 2;
    const shared = spawn(mcpg, ['serve', '--config', sharedConfig, '--listen', `127.0.0.1:${sharedPort}`, '--log-level', 'error'], { stdio: ['ignore', 'ignore', 'inherit'] });
    let redisAdded = 0;
    try {
      for (let i = 0; i < 200; i++) {
        if ((await fetch(`http://127.0.0.1:${sharedPort}/health`).then((r) => r.status, () => 0)) === 200) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const r = await new HttpRpc(`http://127.0.0.1:${sharedPort}/mcp/echo`, agents['agent-1']).start();
      const mem = await new HttpRpc(front, agents['agent-1']).start();
      for (let i = 0; i < 200; i++) await Promise.all([r.call(), mem.call()]);
      const both = { memory: [] as number[], redis: [] as number[] };
      for (let round = 0; round < 6; round++) {
        for (let i = 0; i < calls / 6; i++) both.memory.push(await mem.call());
        for (let i = 0; i < calls / 6; i++) both.redis.push(await r.call());
      }
      redisAdded = us(pct(both.redis, 50) - pct(both.memory, 50));
      log(`   shared state: p50 in memory ${us(pct(both.memory, 50))} µs, in Redis ${us(pct(both.redis, 50))} µs (added p50 ${redisAdded} µs)`);
    } finally {
      shared.kill();
      await store.stop();
    }
    return { added_p50_us: added50, added_p99_us: added99, callers64_ratio: frontRate / directRate, floor_added_p50_us: added(seq.floor, 50), floor_callers64_ratio: floorRate / directRate, idle_sessions_rss_mib: after, redis_added_p50_us: redisAdded };
  } finally {
    gateway.kill();
    forwarder.kill();
    backend.kill();
    await dispatcher.close();
  }
}

function rss(pid: number): number {
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024);
}
