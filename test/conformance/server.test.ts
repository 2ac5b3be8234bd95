// The MCP project's conformance suite (@modelcontextprotocol/conformance, pinned in package.json),
// server side: every server scenario runs against a server that implements them
// (test/fixtures/servers/conformance-server.ts) reached directly over HTTP, and against the same
// server behind `mcpg serve` (routed: /mcp/everything, its stdio process as the backend). What
// passes directly must pass through mcpg (a scenario that could not would be listed with the reason).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { noopGuard } from '../../src/guard/builtin.ts';
import { type Served, serve } from '../../src/http/serve.ts';
import { configureLog } from '../../src/shared/log.ts';
import { FIXTURES, ROOT, fixtureServer, tempDir, writeConfig } from '../helpers/mcpg.ts';

configureLog({ level: 'error', writer: () => {} });
const CLI = join(ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');

/** Server scenarios that cannot pass through mcpg, and why (none today). */
const NOT_THROUGH_MCPG: Record<string, string> = {};

interface Check {
  id: string;
  status: string;
}

async function scenarios(): Promise<string[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'list']);
  const server = stdout.slice(stdout.indexOf('Server scenarios'), stdout.indexOf('Client scenarios'));
  return [...server.matchAll(/^\s+- (\S+)/gm)].map((m) => m[1]!);
}

/** One scenario against a URL: its checks (a scenario that ran no check fails). */
async function run(url: string, scenario: string): Promise<Check[]> {
  const out = tempDir();
  await promisify(execFile)(process.execPath, [CLI, 'server', '--url', url, '--scenario', scenario, '-o', out], { maxBuffer: 32 << 20 }).catch(() => {});
  const file = readdirSync(out, { recursive: true, encoding: 'utf8' }).find((f) => f.endsWith('checks.json'));
  return file ? (JSON.parse(readFileSync(join(out, file), 'utf8')) as Check[]) : [];
}

const failures = (checks: Check[]) => (checks.length ? checks.filter((c) => c.status === 'FAILURE').map((c) => c.id) : ['(no checks ran)']);

describe('MCP conformance suite, server scenarios, directly and through mcpg serve', () => {
  let direct: ChildProcess;
  let directUrl: string;
  let served: Served;
  beforeAll(async () => {
    direct = spawn(process.execPath, [join(FIXTURES, 'servers/conformance-server.ts'), '--http'], { stdio: ['ignore', 'pipe', 'inherit'] });
    directUrl = await new Promise<string>((resolve) => direct.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
    const file = writeConfig(tempDir(), { mcpServers: { everything: fixtureServer('conformance-server.ts') } });
    served = await serve({ config: loadConfig(file), listen: '127.0.0.1:0', makeGuard: async () => noopGuard() });
  });
  afterAll(async () => {
    direct?.kill();
    await served?.close();
  });

  it('every scenario that passes directly passes through mcpg, but those listed with their reason', { timeout: 300_000 }, async () => {
    const all = await scenarios();
    expect(all).toContain('tools-call-sampling');
    const report: string[] = [];
    const regressions: string[] = [];
    let checks = 0;
    // One scenario at a time through mcpg: a stdio server's sampling request does not say which
    // call it is for, so with calls of several sessions in flight mcpg refuses it (Gateway).
    for (const scenario of all) {
      const [d, m] = await Promise.all([run(directUrl, scenario), run(`${served.url}/mcp/everything`, scenario)]);
      const [df, mf] = [failures(d), failures(m)];
      checks += m.length;
      const shown = (all: Check[], failed: string[]) => (all.length ? `${all.length - failed.length}/${all.length}` : 'no checks ran');
      report.push(`${scenario}: direct ${shown(d, df)}, through mcpg ${shown(m, mf)}`);
      if (!df.length && mf.length && !(scenario in NOT_THROUGH_MCPG)) regressions.push(`${scenario}: ${mf.join(', ')}`);
    }
    console.log(report.join('\n'));
    expect(checks).toBeGreaterThanOrEqual(all.length);
    expect(regressions).toEqual([]);
  });
});
