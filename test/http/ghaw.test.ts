// mcpg serve in gh-aw-mcpg's place: GitHub Agentic Workflows' start sequence replayed against
// `mcpg serve --config-stdin` (config JSON on stdin, MCP_GATEWAY_* in the environment, the
// client config read from stdout, /health polled, a call through it, POST /close). Compliance
// tests of gh-aw's gateway specification (section 11) are named by their ids. What cannot run
// here: `container` servers need docker (their translation to `docker run` is tested as config).
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, it } from 'vitest';
import { withGatewayEnvironment } from '../../src/cli/commands/serve.ts';
import { parseConfig } from '../../src/config/load.ts';
import { McpgError } from '../../src/shared/errors.ts';
import { ROOT, fixtureServer, mcpgCommand } from '../helpers/mcpg.ts';

const AGENT_ID = 'gh-aw-agent-id-0123456789';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** `mcpg serve --config-stdin` as gh-aw starts its gateway; stdout and stderr collected. */
function startGateway(config: object, env: Record<string, string> = {}) {
  const { command, args } = mcpgCommand();
  const child: ChildProcess = spawn(command, [...args, 'serve', '--config-stdin'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin!.end(JSON.stringify(config));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

async function healthy(url: string, seen: () => string): Promise<{ stdoutAtHealth: string; body: Record<string, unknown> }> {
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`${url}/health`);
      if (r.status === 200) return { stdoutAtHealth: seen(), body: (await r.json()) as Record<string, unknown> };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('never healthy');
}

describe("gh-aw's start sequence against mcpg serve --config-stdin", () => {
  it('T-OUT-001..007, T-PTL-001, T-PTL-002, T-AUTH-001, T-HLT-001, T-LIFE-002, T-LIFE-004: config on stdin, client config on stdout before /health, a call, /close', async () => {
    const http = spawn(process.execPath, [join(ROOT, 'test/fixtures/servers/http.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const httpUrl = await new Promise<string>((resolve) => http.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())));
      const port = await freePort();
      const gw = startGateway(
        {
          mcpServers: {
            local: { ...fixtureServer('tools.ts', 'local'), tools: ['echo'] },
            web: { type: 'http', url: httpUrl, headers: { 'X-Test-Token': '${WEB_TOKEN}' }, tools: ['*'] },
            safeoutputs: { ...fixtureServer('tools.ts', 'safeoutputs'), 'guard-policies': { 'write-sink': { accept: ['*'] } } },
          },
          gateway: { port, domain: 'localhost', agentId: AGENT_ID, startupTimeout: 30, toolTimeout: 60, sessionTimeout: '30m' },
        },
        { WEB_TOKEN: 'sesame' },
      );
      try {
        const base = `http://127.0.0.1:${port}`;
        const { stdoutAtHealth, body } = await healthy(base, gw.stdout);
        expect(body).toMatchObject({ status: 'healthy', servers: { local: { status: 'running' }, web: { status: 'running' }, safeoutputs: { status: 'running' } } });
        // The client config was complete before /health answered 200.
        const client = JSON.parse(stdoutAtHealth.trim()) as { mcpServers: Record<string, { type: string; url: string; headers: { Authorization: string }; tools?: string[] }> };
        expect(Object.keys(client.mcpServers).sort()).toEqual(['local', 'safeoutputs', 'web']);
        for (const [name, entry] of Object.entries(client.mcpServers)) {
          expect(entry.type).toBe('http');
          expect(entry.url).toBe(`http://localhost:${port}/mcp/${name}`);
          expect(entry.headers).toEqual({ Authorization: AGENT_ID });
        }
        expect(client.mcpServers.local!.tools).toEqual(['echo']);
        // The agent connects as gh-aw points it (the URL's host is the domain: resolve it locally).
        for (const name of ['local', 'web']) {
          const entry = client.mcpServers[name]!;
          const sdk = new Client({ name: 'gh-aw-agent', version: '1.0.0' });
          await sdk.connect(new StreamableHTTPClientTransport(new URL(entry.url.replace('localhost', '127.0.0.1')), { requestInit: { headers: { ...entry.headers, host: `localhost:${port}` } } }));
          const r = (await sdk.callTool({ name: 'echo', arguments: { text: 'through mcpg' } })) as { content: { text: string }[] };
          expect(r.content[0]!.text).toBe(name === 'local' ? 'local: through mcpg' : 'http: through mcpg');
          await sdk.close();
        }
        // Shutdown: 200, then the process ends, its servers with it.
        const close = await fetch(`${base}/close`, { method: 'POST', headers: { Authorization: AGENT_ID } });
        expect(close.status).toBe(200);
        expect(await gw.exited).toBe(0);
        expect(gw.stderr()).not.toContain(AGENT_ID);
      } finally {
        gw.child.kill();
      }
    } finally {
      http.kill();
    }
  });

  it('T-CFG-004, T-CFG-006, T-ERR-001: a bad config is one JSON error on stdout and exit 1, and nothing listens', async () => {
    const port = await freePort();
    for (const [config, why] of [
      [{ mcpServers: { s: { ...fixtureServer('tools.ts'), env: { T: '${NOT_SET_ANYWHERE}' } } }, gateway: { port, domain: 'localhost', agentId: AGENT_ID } }, /NOT_SET_ANYWHERE is not set/],
      [{ mcpServers: { s: fixtureServer('tools.ts') }, gateway: { port, domain: 'localhost', agentId: AGENT_ID }, colour: 'red' }, /unknown key "colour"/],
      [{ mcpServers: { s: fixtureServer('tools.ts') }, gateway: { port: 70_000, domain: 'localhost', agentId: AGENT_ID } }, /gateway\.port: expected a port number/],
    ] as const) {
      const gw = startGateway(config);
      expect(await gw.exited).toBe(1);
      expect(JSON.parse(gw.stdout().trim())).toEqual({ error: expect.stringMatching(why) });
      await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
    }
  });

  it('SIGTERM drains: a call in flight finishes, then mcpg exits 0', async () => {
    const port = await freePort();
    const gw = startGateway({ mcpServers: { local: fixtureServer('tools.ts', 'local') }, gateway: { port, domain: 'localhost', agentId: AGENT_ID } });
    try {
      await healthy(`http://127.0.0.1:${port}`, gw.stdout);
      const sdk = new Client({ name: 'agent', version: '1.0.0' });
      await sdk.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp/local`), { requestInit: { headers: { Authorization: AGENT_ID } } }));
      const slow = sdk.callTool({ name: 'slow', arguments: { steps: 5, ms: 100 } });
      await new Promise((r) => setTimeout(r, 150));
      gw.child.kill('SIGTERM');
      expect(((await slow) as { content: { text: string }[] }).content[0]!.text).toBe('done');
      expect(await gw.exited).toBe(0);
    } finally {
      gw.child.kill();
    }
  });
});

describe("gh-aw-mcpg's config read as mcpg's", () => {
  const parse = (doc: object, env: NodeJS.ProcessEnv = {}) => parseConfig('/work/stdin.json', JSON.stringify(doc), env);
  const gateway = { port: 8080, domain: 'localhost', agentId: AGENT_ID };

  it('T-CFG-001, T-CFG-015, T-CFG-018: a container server runs as docker run -i --rm, env by name, mounts, entrypoint', () => {
    const cfg = parse({
      mcpServers: {
        gh: {
          container: 'ghcr.io/github/github-mcp-server:v1',
          entrypoint: '/bin/server',
          entrypointArgs: ['stdio', '--read-only'],
          mounts: ['/var/data:/data:ro', '/var/out:/out:rw'],
          env: { GITHUB_PERSONAL_ACCESS_TOKEN: 'x' },
        },
      },
      gateway,
    });
    expect(cfg.servers[0]).toMatchObject({
      command: 'docker',
      args: ['run', '-i', '--rm', '-e', 'GITHUB_PERSONAL_ACCESS_TOKEN', '-v', '/var/data:/data:ro', '-v', '/var/out:/out:rw', '--entrypoint', '/bin/server', 'ghcr.io/github/github-mcp-server:v1', 'stdio', '--read-only'],
      env: { GITHUB_PERSONAL_ACCESS_TOKEN: 'x' },
    });
    expect(cfg.agents).toEqual({ agent: AGENT_ID });
    expect(cfg.listen).toBe('127.0.0.1:8080');
  });

  it('T-CFG-016, T-CFG-017, T-CFG-019: mounts must be host:container:ro|rw, on container servers only', () => {
    const refused = (doc: object) => {
      try {
        parse(doc);
      } catch (err) {
        expect(err).toBeInstanceOf(McpgError);
        return (err as McpgError).message;
      }
      throw new Error('accepted');
    };
    expect(refused({ mcpServers: { s: { container: 'i', mounts: ['/a:/b'] } }, gateway })).toMatch(/mcpServers\.s\.mounts\.0: expected "\/host\/path:\/container\/path:ro"/);
    expect(refused({ mcpServers: { s: { container: 'i', mounts: ['/a:/b:rx'] } }, gateway })).toMatch(/mounts\.0/);
    expect(refused({ mcpServers: { s: { type: 'http', url: 'https://x.example/mcp', mounts: ['/a:/b:ro'] } }, gateway })).toMatch(/mounts apply to container \(stdio\) servers only/);
  });

  it("takes gh-aw-mcpg's environment (port, domain, key, payload dir) and mcpg's listen host", () => {
    const cfg = parse({ mcpServers: { s: { type: 'http', url: 'https://x.example/mcp' } }, gateway: { payloadSizeThreshold: 1000 } });
    const env = { MCP_GATEWAY_PORT: '8000', MCP_GATEWAY_DOMAIN: 'gw.local', MCP_GATEWAY_API_KEY: 'key-0123456789', MCP_GATEWAY_PAYLOAD_DIR: '/data/payloads', MCPG_LISTEN_HOST: '0.0.0.0' };
    expect(withGatewayEnvironment(cfg, env)).toMatchObject({ listen: '0.0.0.0:8000', domain: 'gw.local', agents: { agent: 'key-0123456789' }, payloads: { dir: '/data/payloads', threshold: 1000 } });
    expect(withGatewayEnvironment({ ...cfg, listen: '127.0.0.2:3000' }, env).listen).toBe('0.0.0.0:8000');
    expect(withGatewayEnvironment({ ...cfg, listen: '127.0.0.2:3000' }, { MCP_GATEWAY_PORT: '8000' }).listen).toBe('127.0.0.2:8000');
    expect(withGatewayEnvironment(cfg, {}).listen).toBe(cfg.listen);
  });

  it('agentIds are agents of their own; agentId with agentIds is refused; sessionTimeout is a Go duration; unknown gh-aw keys warn', () => {
    const cfg = parse({ mcpServers: { s: { type: 'http', url: 'https://x.example/mcp' } }, gateway: { port: 1, domain: 'd', agentIds: ['id-one-0000', 'id-two-0000'], sessionTimeout: '1h30m', trustedBots: ['x[bot]'], payloadDir: '/tmp/payloads', payloadSizeThreshold: 1000, payloadPathPrefix: '/workspace/payloads' } });
    expect(cfg.payloads).toEqual({ dir: '/tmp/payloads', threshold: 1000, pathPrefix: '/workspace/payloads' });
    expect(cfg.agents).toEqual({ 'agent-1': 'id-one-0000', 'agent-2': 'id-two-0000' });
    expect(cfg.sessionTimeoutMs).toBe(5_400_000);
    expect(cfg.warnings).toContain("gateway.trustedBots: accepted from gh-aw-mcpg's config; mcpg does not act on it");
    expect(() => parse({ mcpServers: { s: { type: 'http', url: 'https://x.example/mcp' } }, gateway: { port: 1, agentId: 'a-000000', agentIds: ['b-000000'] } })).toThrow(/agentId and agentIds are exclusive/);
  });

  it('guard-policies: write-sink is mcpg\'s write-sink (public: accepts nothing); allow-only takes the guard MCPG_ALLOW_ONLY_GUARD names', () => {
    const cfg = parse(
      {
        mcpServers: {
          out: { type: 'http', url: 'https://x.example/mcp', 'guard-policies': { 'write-sink': { accept: ['*'], 'sink-visibility': 'public' } } },
          github: { container: 'g', 'guard-policies': { 'allow-only': { repos: 'public', 'min-integrity': 'approved' } } },
        },
        gateway,
      },
      { MCPG_ALLOW_ONLY_GUARD: '/guards/repo-visibility.wasm' },
    );
    expect(cfg.guards.find((g) => g.name === 'out-write-sink')).toMatchObject({ builtin: 'write-sink', policy: { accept: [] } });
    expect(cfg.guards.find((g) => g.name === 'github-allow-only')).toMatchObject({ path: '/guards/repo-visibility.wasm', policy: { 'allow-only': { repos: 'public' } } });
    expect(() => parse({ mcpServers: { github: { container: 'g', 'guard-policies': { 'allow-only': {} } } }, gateway })).toThrow(/set MCPG_ALLOW_ONLY_GUARD/);
  });
});
