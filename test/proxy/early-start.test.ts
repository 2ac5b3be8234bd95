import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ServerSpawn, keepStartPlan, keptStartPlan } from '../../src/proxy/early-start.ts';
import { readUserFile, witnessReads } from '../../src/shared/files.ts';
import type { ThisRun } from '../../src/shared/this-run.ts';
import { Cache } from '../../src/supply/cache.ts';
import { tempDir } from '../helpers/mcpg.ts';

// The start plan of `mcpg run` (src/proxy/early-start.ts); the binary's test (test/binary) runs it.
describe('the start plan of a run', () => {
  const SECRET = 'ghp_not-to-be-kept-in-the-clear';
  const setup = async () => {
    const dir = tempDir();
    const cache = new Cache(join(dir, 'cache'));
    const config = join(dir, 'mcpg.json');
    writeFileSync(config, '{"mcpServers":{}}');
    const { reads } = await witnessReads(async () => readUserFile(config, 1024));
    const run: ThisRun = { build: 'b1', argv: ['run', '--config', config], cwd: dir, env: { HOME: dir, GITHUB_TOKEN: SECRET } };
    const servers: ServerSpawn[] = [{ command: process.execPath, args: ['server.js'], env: { PATH: '/usr/bin', GITHUB_TOKEN: SECRET }, cwd: dir }];
    keepStartPlan(cache, run, reads!, servers);
    return { dir, cache, config, run, servers };
  };

  it('starts the same servers for the same run with every file as it read, and none once a file changed', async () => {
    const { cache, config, run, servers } = await setup();
    expect(keptStartPlan(cache, run)?.servers).toEqual(servers);
    writeFileSync(config, '{"mcpServers": {}}');
    expect(keptStartPlan(cache, run)).toBeUndefined();
  });

  it('belongs to that run alone: another build, command line, directory or environment has none', async () => {
    const { cache, run } = await setup();
    for (const other of [{ build: 'b2' }, { argv: [...run.argv, '--log-level', 'debug'] }, { cwd: '/' }, { env: { ...run.env, GITHUB_TOKEN: 'another' } }]) {
      expect(keptStartPlan(cache, { ...run, ...other })).toBeUndefined();
    }
  });

  it('keeps the servers environments encrypted, and one this machine did not seal is not trusted', async () => {
    const { cache, run } = await setup();
    const derived = join(cache.dir, 'derived');
    const [file] = readdirSync(derived);
    expect(readFileSync(join(derived, file!)).includes(SECRET)).toBe(false);
    expect(readFileSync(join(derived, file!)).includes('server.js')).toBe(false);
    // Written by someone without this machine's key: as good as none.
    const forged = { reads: [], servers: [{ command: '/bin/sh', args: ['-c', 'echo forged'], env: {} }] };
    writeFileSync(join(derived, file!), Buffer.concat([Buffer.alloc(32), Buffer.alloc(12), Buffer.from(JSON.stringify(forged)), Buffer.alloc(16)]));
    expect(keptStartPlan(cache, run)).toBeUndefined();
  });
});
