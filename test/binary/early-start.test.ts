// Runs in the binary pass only (MCPG_BIN=dist/mcpg; see scripts/test.mjs): only the single
// executable starts servers before its bundle loads (src/proxy/early-start.ts).
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, mcpgRun, startGateway, tempDir, writeConfig } from '../helpers/mcpg.ts';

const EARLY = /started before the gateway loaded/;

describe('mcpg run starts its servers from the plan of its last run', () => {
  it('starts each server once, early only while the config is as it was, and never from a plan it did not seal', async () => {
    const dir = tempDir();
    const starts = join(dir, 'starts.log');
    const server = join(dir, 'server.mjs');
    const stay = join(dir, 'stay');
    // A real MCP server (test/fixtures/servers/tools.ts, named by its argument) that notes each
    // start; while the file \`stay\` exists it only waits, outliving its stdin as some servers do.
    writeFileSync(
      server,
      `import { appendFileSync, existsSync } from 'node:fs';\nappendFileSync(${JSON.stringify(starts)}, process.argv[2] + ' ' + process.pid + '\\n');\nif (existsSync(${JSON.stringify(stay)})) setInterval(() => {}, 60_000);\nelse await import(${JSON.stringify(join(FIXTURES, 'servers/tools.ts'))});\n`,
    );
    const config = (name: string) => writeConfig(dir, { mcpServers: { t: { command: process.execPath, args: [server, name], env: { TOKEN: '${EARLY_TEST_TOKEN}' } } } });
    const env = { MCPG_CACHE_DIR: join(dir, 'cache'), EARLY_TEST_TOKEN: 'early-test-secret' };
    const started = () => (existsSync(starts) ? readFileSync(starts, 'utf8').trim().split('\n') : []).map((l) => l.split(' ')[0]);
    /** One run: whether its server started early, and which servers started during it. */
    const run = async (file: string) => {
      const before = started().length;
      const gw = await startGateway(file, ['--log-level', 'debug'], env);
      const whoami = (await gw.call('t___whoami')).text;
      await gw.close();
      return { early: EARLY.test(gw.stderr()), whoami, started: started().slice(before) };
    };

    const first = config('a');
    expect(await run(first)).toEqual({ early: false, whoami: 'a', started: ['a'] });
    expect(await run(first)).toEqual({ early: true, whoami: 'a', started: ['a'] });
    // The servers' environments are kept, encrypted: the secret is nowhere in the cache in the clear.
    const derived = join(dir, 'cache', 'derived');
    for (const f of readdirSync(derived)) expect(readFileSync(join(derived, f)).includes('early-test-secret')).toBe(false);

    // Another config: its server alone starts, and the next run starts it early.
    const second = config('b');
    expect(await run(second)).toEqual({ early: false, whoami: 'b', started: ['b'] });
    expect(await run(second)).toEqual({ early: true, whoami: 'b', started: ['b'] });

    // A plan this machine did not seal starts nothing; the run keeps a true one.
    for (const f of readdirSync(derived)) writeFileSync(join(derived, f), readFileSync(join(derived, f)).map((b, i) => (i === 0 ? b ^ 1 : b)));
    expect(await run(second)).toEqual({ early: false, whoami: 'b', started: ['b'] });
    expect(await run(second)).toEqual({ early: true, whoami: 'b', started: ['b'] });

    // A run that fails after its servers started early (here: guards.lock is not a lock) ends
    // them, even one that would outlive its stdin.
    writeFileSync(join(dir, 'guards.lock'), 'not a lock');
    writeFileSync(stay, '');
    const before = readFileSync(starts, 'utf8').trim().split('\n').length;
    const failed = await mcpgRun(second, ['--log-level', 'debug'], env);
    expect(failed.code).not.toBe(0);
    const early = readFileSync(starts, 'utf8').trim().split('\n').slice(before);
    expect(early.map((l) => l.split(' ')[0])).toEqual(['b']);
    const pid = Number(early[0]!.split(' ')[1]);
    try {
      await expect.poll(() => alive(pid), { timeout: 5_000 }).toBe(false);
    } finally {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
