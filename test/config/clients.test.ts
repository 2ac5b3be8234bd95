// Configs as MCP clients write them: VS Code's mcp.json (servers, inputs, type), Cline's keys,
// and a legacy SSE backend reached through mcpg by the SDK's client.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { McpgError } from '../../src/shared/errors.ts';
import { inProcess } from '../helpers/in-process.ts';
import { ROOT, fixtureServer, tempDir, writeConfig } from '../helpers/mcpg.ts';

describe("client configs", () => {
  it("VS Code's mcp.json: inputs are read from the environment, with a clear error when one is not set", () => {
    const vscode = {
      inputs: [{ type: 'promptString', id: 'github-token', description: 'GitHub token', password: true }],
      servers: { gh: { type: 'stdio', command: 'github-mcp-server', args: ['stdio'], env: { GITHUB_TOKEN: '${input:github-token}' } } },
    };
    const file = writeConfig(tempDir(), vscode, 'mcp.json');
    const cfg = loadConfig(file, { GITHUB_TOKEN: 'from-env' });
    expect(cfg.servers[0]).toMatchObject({ name: 'gh', env: { GITHUB_TOKEN: 'from-env' } });
    try {
      loadConfig(file, {});
      throw new Error('loaded');
    } catch (err) {
      expect(err).toBeInstanceOf(McpgError);
      expect((err as McpgError).message).toBe(`${file}: servers.gh.env.GITHUB_TOKEN: VS Code would prompt for input "github-token"; mcpg cannot prompt: set the environment variable GITHUB_TOKEN`);
    }
  });

  it("Cline's keys: a disabled server is left out, autoApprove is ignored with a warning", () => {
    const file = writeConfig(tempDir(), { mcpServers: { on: { ...fixtureServer('tools.ts'), autoApprove: ['echo'] }, off: { ...fixtureServer('tools.ts'), disabled: true } } });
    const cfg = loadConfig(file);
    expect(cfg.servers.map((s) => s.name)).toEqual(['on']);
    expect(cfg.warnings).toEqual(['servers.on.autoApprove: ignored (mcpg decides by information-flow policy, not by a list of tools)', 'servers.off: disabled, so it is not started']);
  });

  it('an SSE backend in a VS Code-shaped config, reached through mcpg by the SDK client', async () => {
    const server = spawn(process.execPath, [join(ROOT, 'test/fixtures/servers/sse.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const url = await new Promise<string>((resolve) => server.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())));
      process.env.TEST_SSE_TOKEN = 'sesame';
      const gw = await inProcess({
        inputs: [{ type: 'promptString', id: 'test-sse-token', description: 'token' }],
        servers: { legacy: { type: 'sse', url, headers: { 'X-Test-Token': '${input:test-sse-token}' } } },
      });
      try {
        expect((await gw.call('legacy___echo', { text: 'over sse' })).text).toBe('sse: over sse');
      } finally {
        await gw.close();
      }
    } finally {
      server.kill();
    }
  });
});
