// The container image (Containerfile), built with buildah from the single executable, then run
// as gh-aw runs gh-aw-mcpg's image: the image is mounted (`buildah mount`) and its entrypoint
// run under chroot as its user (no container runtime runs on these machines: crun cannot set
// their rlimits), config JSON on stdin, MCP_GATEWAY_* in the environment, against a real HTTP
// backend on the host's loopback. chroot needs root: CI runs as root.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, buildah, containerContext } from '../../scripts/container.mjs';
import { ROOT } from '../helpers/mcpg.ts';
import { freePort } from '../helpers/debian-tools.ts';

const KEY = 'container-key-0123456789';
const CHROOT = '/usr/sbin/chroot';

async function firstLine(child: ChildProcess): Promise<string> {
  for await (const line of createInterface({ input: child.stdout! })) return line;
  throw new Error('no output');
}

describe.skipIf(process.getuid?.() !== 0)('the container image', () => {
  let b: Awaited<ReturnType<typeof buildah>>;
  let tag: string;
  let container: string;
  let root: string;
  let backend: ChildProcess;
  const run = (...args: string[]) => execFileSync(b.bin, args, { env: b.env, encoding: 'utf8' }).trim();
  beforeAll(async () => {
    b = await buildah();
    tag = await buildImage(containerContext({ binary: join(ROOT, process.env.MCPG_BIN ?? 'dist/mcpg') }));
    container = run('from', ...b.policy, tag);
    root = run('mount', container);
    backend = spawn(process.execPath, [join(ROOT, 'scripts/bench/http-echo-server.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  }, 300_000);
  afterAll(() => {
    backend?.kill();
    if (container) {
      run('umount', container);
      run('rm', container);
    }
  });

  it('is the executable on an empty base, run as a non-root user, with a health check and gh-aw-mcpg\'s entry', () => {
    const config = (JSON.parse(run('inspect', '--type', 'image', tag)) as { Docker: { config: Record<string, unknown> } }).Docker.config;
    expect(config.User).toBe('65532:65532');
    expect(config.Entrypoint).toEqual(['/usr/local/bin/mcpg']);
    expect(config.Cmd).toEqual(['serve', '--config-stdin']);
    expect(config.Healthcheck).toMatchObject({ Test: ['CMD', '/usr/local/bin/mcpg', 'health'] });
    // No shell, no package manager: what the context put there and nothing else.
    expect(execFileSync('find', [root, '-type', 'f'], { encoding: 'utf8' }).split('\n').filter((f) => f.includes('/bin/sh')).length).toBe(0);
  });

  it("serves as gh-aw-mcpg's image does: config on stdin, the client config on stdout, /health, a call through it; its health check says ready", async () => {
    const direct = await firstLine(backend);
    const port = await freePort();
    const env = { MCP_GATEWAY_PORT: String(port), MCP_GATEWAY_API_KEY: KEY, MCP_GATEWAY_DOMAIN: 'localhost', HOME: '/home/nonroot', MCPG_LISTEN_HOST: '0.0.0.0', PATH: '' };
    const gateway = spawn(CHROOT, ['--userspec=65532:65532', root, '/usr/local/bin/mcpg', 'serve', '--config-stdin'], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      gateway.stdin.end(JSON.stringify({ mcpServers: { echo: { type: 'http', url: direct } }, gateway: { port, domain: 'localhost', apiKey: KEY } }));
      const client = JSON.parse(await firstLine(gateway)) as { mcpServers: { echo: { url: string; headers: { Authorization: string } } } };
      expect(client.mcpServers.echo.url).toBe(`http://localhost:${port}/mcp/echo`);
      const health = execFileSync(CHROOT, ['--userspec=65532:65532', root, '/usr/local/bin/mcpg', 'health'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect(health).toBe('');
      const call = async (id: number, method: string, params: object, session?: string) => {
        const res = await fetch(client.mcpServers.echo.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...client.mcpServers.echo.headers, ...(session && { 'mcp-session-id': session }) },
          body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
        });
        return { session: res.headers.get('mcp-session-id') ?? undefined, body: (await res.json()) as { result?: { content?: { text: string }[] } } };
      };
      const init = await call(1, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'container-test', version: '1' } });
      const echoed = await call(2, 'tools/call', { name: 'get_echo', arguments: { from: 'the container' } }, init.session);
      expect(echoed.body.result?.content?.[0]?.text).toContain('the container');
    } finally {
      gateway.kill('SIGTERM');
      await new Promise((r) => gateway.once('exit', r));
    }
    // Stopped: the health check says so (exit 4).
    const after = (() => {
      try {
        execFileSync(CHROOT, ['--userspec=65532:65532', root, '/usr/local/bin/mcpg', 'health'], { env: { MCP_GATEWAY_PORT: String(port), PATH: '' }, stdio: 'ignore' });
        return 0;
      } catch (err) {
        return (err as { status: number }).status;
      }
    })();
    expect(after).toBe(4);
  });
});
