// Two `mcpg serve` replicas (the real bundle, each its own process) behind Debian's haproxy
// (examples/haproxy.cfg), sharing Debian's redis-server ([gateway] state): an agent's labels are
// the agent's on every replica. The example's GitHub-like server behind the repo-visibility guard
// (compiled from source) and its public notes sink, in propagate mode: reading octo/secret taints
// the agent, after which it may not post a public note.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestHaproxy, type TestRedis, freePort, haproxy, redis } from '../helpers/debian-tools.ts';
import { ROOT, mcpgCommand, tempDir, writeConfig } from '../helpers/mcpg.ts';

const DOMAIN = 'mcpg.test';
const TOKENS = { alice: 'alice-token-0123456789', bob: 'bob-token-0123456789', carol: 'carol-token-0123456789', dave: 'dave-token-0123456789' };
const SECRET = { owner: 'octo', repo: 'secret', issue_number: 7 };
const dispatcher = new Agent({ connections: 256, keepAliveTimeout: 10_000 });

function config(dir: string, state: string): string {
  const node = JSON.stringify(process.execPath);
  const example = (f: string) => JSON.stringify(join(ROOT, 'examples/servers', f));
  return writeConfig(
    dir,
    `[gateway]
mode = "propagate"
state = "${state}"
domain = "${DOMAIN}"
lock = ${JSON.stringify(join(dir, 'guards.lock'))}
max_concurrent_calls = 1000
agents = { ${Object.entries(TOKENS).map(([a, t]) => `${a} = "${t}"`).join(', ')} }

[servers.github]
command = ${node}
args = [${example('github-demo.ts')}]
guard = "repo-visibility"

[servers.notes]
command = ${node}
args = [${example('notes.ts')}]
guard = "public-sink"

[servers.asking]
command = ${node}
args = [${JSON.stringify(join(ROOT, 'test/fixtures/servers/asking.ts'))}, "asking"]

[guards.repo-visibility]
path = ${JSON.stringify(join(ROOT, 'dist/guards/repo-visibility.wasm'))}
policy = { allow-only = { repos = "public", min-integrity = "none" } }

[guards.public-sink]
builtin = "write-sink"
policy = { accept = [] }
`,
    'mcpg.toml',
  );
}

interface Replica {
  port: number;
  url: string;
  audit: string;
  child: ChildProcess;
}

async function replica(state: string): Promise<Replica> {
  const dir = tempDir();
  const port = await freePort();
  const audit = join(dir, 'audit.jsonl');
  const { command, args } = mcpgCommand();
  const child = spawn(command, [...args, 'serve', '--config', config(dir, state), '--listen', `127.0.0.1:${port}`, '--audit-log', audit, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const status = await request(`${url}/health`, { headers: { host: DOMAIN }, dispatcher }).then((r) => (r.body.dump(), r.statusCode), () => 0);
    if (status === 200) break;
    if (i > 400 || child.exitCode !== null) throw new Error(`replica on ${port} did not become healthy`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, url, audit, child };
}

type Answer = { status: number; id?: unknown; text?: string; isError?: boolean; error?: string };

/** One agent's MCP over HTTP, by hand: an older session (initialize, Mcp-Session-Id), or 2026 requests that need none. */
class Rpc {
  #id = 0;
  session?: string;
  readonly url: string;
  readonly token: string;
  constructor(url: string, token: string) {
    this.url = url;
    this.token = token;
  }
  async send(method: string, params: object, modern = false, capabilities: object = {}): Promise<Answer & { result?: Record<string, unknown> }> {
    const id = `${this.token.slice(0, 5)}-${++this.#id}`;
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: this.token, host: DOMAIN };
    if (this.session) headers['mcp-session-id'] = this.session;
    let body: object = params;
    if (modern) {
      headers['mcp-protocol-version'] = '2026-07-28';
      headers['mcp-method'] = method;
      if ('name' in params) headers['mcp-name'] = String(params.name);
      body = { ...params, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': capabilities, 'io.modelcontextprotocol/clientInfo': { name: 'replica-test', version: '1' } } };
    }
    const res = await request(this.url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id, method, params: body }), dispatcher });
    const sid = res.headers['mcp-session-id'];
    if (typeof sid === 'string') this.session = sid;
    const raw = await res.body.text();
    if (res.statusCode >= 500) return { status: res.statusCode, error: raw.slice(0, 200) };
    const json = JSON.parse(raw.startsWith('{') ? raw : (/^data: (.*)$/m.exec(raw)?.[1] ?? '{}')) as { id?: unknown; result?: { isError?: boolean; content?: { text?: string }[] }; error?: { message: string } };
    return { status: res.statusCode, id: json.id, result: json.result as Record<string, unknown> | undefined, text: json.result?.content?.map((c) => c.text ?? '').join('\n'), isError: json.result?.isError, error: json.error?.message };
  }
  async initialize(): Promise<this> {
    await this.send('initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'replica-test', version: '1' } });
    return this;
  }
  call(name: string, args: object, modern = false): Promise<Answer> {
    return this.send('tools/call', { name, arguments: args }, modern);
  }
}

const READ_REFUSED = /^mcpg denied write of "post_note" on server "notes": the agent carries secrecy tags the resource does not accept: private:octo\/secret/;

describe('replicas behind haproxy, sharing each agent\'s labels in redis', () => {
  let store: TestRedis;
  let lb: TestHaproxy;
  let replicas: Replica[];
  beforeAll(async () => {
    store = await redis();
    replicas = await Promise.all([replica(store.url), replica(store.url)]);
    lb = await haproxy(
      replicas.map((r) => r.port),
      DOMAIN,
    );
  }, 180_000);
  afterAll(async () => {
    await lb?.stop();
    for (const r of replicas ?? []) r.child.kill('SIGKILL');
    await store?.stop();
    await dispatcher.close();
  });

  it('64 callers of one agent over both replicas, reads and writes interleaved: no write is allowed that was sent after a private read reached the agent (audit lines agree)', { timeout: 120_000 }, async () => {
    const calls: { kind: 'read' | 'write'; sent: number; got: number; allowed: boolean; text: string }[] = [];
    // Half of each writer's writes wait for the first read to reach the agent, so that some are
    // sent after it whatever the timing (the first read can be the slowest: the guard starts).
    let readReached!: () => void;
    const firstReadReached = new Promise<void>((resolve) => (readReached = resolve));
    await Promise.all(
      Array.from({ length: 64 }, async (_, worker) => {
        // Reads on replica 1, writes on replica 2: only the shared state tells one of the other.
        const rpc = new Rpc(`${replicas[worker % 2]!.url}/mcp/${worker % 2 ? 'notes' : 'github'}`, TOKENS.carol);
        for (let i = 0; i < 4; i++) {
          const kind = worker % 2 ? 'write' : 'read';
          if (kind === 'write' && i === 2) await firstReadReached;
          const sent = performance.now();
          const a = kind === 'read' ? await rpc.call('get_issue', SECRET, true) : await rpc.call('post_note', { text: `note ${worker}.${i}` }, true);
          calls.push({ kind, sent, got: performance.now(), allowed: a.status === 200 && !a.isError && a.error === undefined, text: a.text ?? a.error ?? '' });
          if (kind === 'read') readReached();
        }
      }),
    );
    const firstRead = Math.min(...calls.filter((c) => c.kind === 'read' && c.allowed).map((c) => c.got));
    expect(calls.filter((c) => c.kind === 'read').every((c) => c.allowed && c.text.includes('secret roadmap'))).toBe(true);
    const late = calls.filter((c) => c.kind === 'write' && c.sent > firstRead);
    expect(late.length).toBeGreaterThan(0);
    expect(late.filter((c) => c.allowed)).toEqual([]);
    for (const w of late) expect(w.text).toMatch(READ_REFUSED);
    // Both replicas decided, and their audit lines agree with what the agent was told.
    const lines = replicas.flatMap((r) => readFileSync(r.audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>));
    const carol = lines.filter((l) => l.agent === 'carol');
    expect(new Set(replicas.filter((r) => readFileSync(r.audit, 'utf8').includes('"carol"')).map((r) => r.port)).size).toBe(2);
    const allowedWrites = carol.filter((l) => l.tool === 'post_note' && l.stage === 'response' && l.decision === 'allow').length;
    expect(allowedWrites).toBe(calls.filter((c) => c.kind === 'write' && c.allowed).length);
  });

  it("a 2026 request's rounds stay with the replica that started it: another recognizes the sealed state and says so", { timeout: 60_000 }, async () => {
    const ask = (url: string, extra: object = {}) => new Rpc(`${url}/mcp/asking`, TOKENS.bob).send('tools/call', { name: 'ask', arguments: {}, ...extra }, true, { elicitation: {} });
    const first = await ask(replicas[0]!.url);
    expect(first.result).toMatchObject({ resultType: 'input_required', requestState: expect.any(String) });
    const key = Object.keys(first.result!.inputRequests as object)[0]!;
    const elsewhere = await ask(replicas[1]!.url, { requestState: first.result!.requestState, inputResponses: { [key]: { action: 'accept', content: { name: 'Ada' } } } });
    expect(elsewhere.error).toMatch(/requestState continues a request that another replica of mcpg started/);
    const same = await ask(replicas[0]!.url, { requestState: first.result!.requestState, inputResponses: { [key]: { action: 'accept', content: { name: 'Ada' } } } });
    expect(same.text).toBe('asking: hello Ada');
  });

  it('failover: a private read through replica 1, replica 1 killed (SIGKILL) with 200 calls in flight, the next calls land on replica 2 and the public write is still refused', { timeout: 120_000 }, async () => {
    const [first] = replicas;
    // The agent's older sessions begin on replica 1 (reached directly), where it reads private data.
    const github = await new Rpc(`${first!.url}/mcp/github`, TOKENS.alice).initialize();
    const notes = await new Rpc(`${first!.url}/mcp/notes`, TOKENS.alice).initialize();
    expect((await github.call('get_issue', SECRET)).text).toContain('secret roadmap');
    // 200 calls in flight through haproxy when replica 1 dies.
    const inflight = new Rpc(`${lb.url}/mcp/github`, TOKENS.dave);
    const pending = Array.from({ length: 200 }, () =>
      inflight.call('get_issue', { owner: 'octo', repo: 'public', issue_number: 1 }, true).then(
        (a) => a,
        (err: Error) => ({ status: 0, error: err.message }) as Answer,
      ),
    );
    await new Promise((r) => setTimeout(r, 20));
    first!.child.kill('SIGKILL');
    const answers = await Promise.all(pending);
    const answered = answers.filter((a) => a.status === 200 && a.text !== undefined);
    const failed = answers.filter((a) => !(a.status === 200 && a.text !== undefined));
    expect(answered.length + failed.length).toBe(200);
    // Each answered once, with its own id; each failure a clean one (haproxy's 502/503, or the connection).
    expect(new Set(answered.map((a) => a.id)).size).toBe(answered.length);
    for (const f of failed) expect(f.status === 0 || f.status >= 500).toBe(true);
    expect(answered.length).toBeGreaterThan(0);
    // The same sessions, through haproxy: replica 2 takes them up, and the taint came with the agent.
    const viaLb = (rpc: Rpc, server: string) => Object.assign(new Rpc(`${lb.url}/mcp/${server}`, TOKENS.alice), { session: rpc.session });
    const write = await viaLb(notes, 'notes').call('post_note', { text: 'leak' });
    expect(write.isError).toBe(true);
    expect(write.text).toMatch(READ_REFUSED);
    expect((await viaLb(github, 'github').call('get_issue', SECRET)).text).toContain('secret roadmap');
    // Another agent, on the same replica, is not tainted.
    const bob = await new Rpc(`${lb.url}/mcp/notes`, TOKENS.bob).initialize();
    expect((await bob.call('post_note', { text: 'hello' })).text).toMatch(/^posted note #\d+$/);
  });

  it('redis stopped: calls that need labels are refused with a clear error, none allowed; serving resumes when it is back, the taint intact', { timeout: 120_000 }, async () => {
    const alice = new Rpc(`${lb.url}/mcp/notes`, TOKENS.alice);
    const bob = new Rpc(`${lb.url}/mcp/github`, TOKENS.bob);
    await store.stop();
    const during = await Promise.all([alice.call('post_note', { text: 'leak' }, true), bob.call('get_issue', SECRET, true), bob.call('get_issue', { owner: 'octo', repo: 'public', issue_number: 1 }, true)]);
    for (const a of during) {
      expect(a.isError).toBe(true);
      expect(a.text).toMatch(/the shared state at redis:\/\/127\.0\.0\.1:\d+\/0 cannot be reached/);
    }
    await store.start();
    await expect.poll(async () => (await bob.call('get_issue', { owner: 'octo', repo: 'public', issue_number: 1 }, true)).isError, { timeout: 15_000, interval: 200 }).toBeFalsy();
    expect((await alice.call('post_note', { text: 'leak' }, true)).text).toMatch(READ_REFUSED);
  });
});
