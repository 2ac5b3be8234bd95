import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Cache } from '../../src/supply/cache.ts';
import { McpgError } from '../../src/shared/errors.ts';
import { configureLog } from '../../src/shared/log.ts';
import { mcpgAsync, tempDir } from '../helpers/mcpg.ts';

let logged = '';
configureLog({ writer: (line) => (logged += line) });

const lockOf = (dir: string, key: string) => join(dir, 'sha256', `${createHash('sha256').update(key).digest('hex')}.lock`);

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

describe('the cache lock', () => {
  it('takes over at once a lock whose owner was killed mid-download', async () => {
    const dir = tempDir();
    const cache = new Cache(dir);
    mkdirSync(join(dir, 'sha256'), { recursive: true });
    writeFileSync(lockOf(dir, 'k'), JSON.stringify({ pid: await deadPid(), host: hostname() }));
    logged = '';
    expect(await cache.exclusive('k', async () => 'done')).toBe('done');
    expect(logged).toMatch(/taking over .*\.lock: its owner \(pid \d+\) is gone/);
    expect(logged).not.toMatch(/waiting/);
    expect(existsSync(lockOf(dir, 'k'))).toBe(false);
  });

  it('waits, saying so, for a live owner, then takes its turn', async () => {
    const dir = tempDir();
    const cache = new Cache(dir);
    mkdirSync(join(dir, 'sha256'), { recursive: true });
    const lock = lockOf(dir, 'k');
    // This very process holds it, as another mcpg downloading the same guard would.
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname() }));
    logged = '';
    let ran = false;
    const turn = cache.exclusive('k', async () => (ran = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(ran).toBe(false);
    expect(logged).toMatch(/waiting for another mcpg \(pid \d+\) that is downloading the same guard/);
    rmSync(lock);
    await turn;
    expect(ran).toBe(true);
  });

  it('a cache directory that cannot be written is an error naming it, not a spin', async () => {
    // Root writes through file modes: a path under /sys cannot be created even by root.
    let dir = '/sys/mcpg-cache-test';
    if (process.getuid?.() !== 0) {
      const parent = tempDir();
      chmodSync(parent, 0o555);
      dir = join(parent, 'cache');
    }
    const cache = new Cache(dir);
    const put = (() => {
      try {
        cache.put(new Uint8Array([1]));
      } catch (err) {
        return err;
      }
    })();
    expect(put).toBeInstanceOf(McpgError);
    expect((put as McpgError).code).toBe('FILE_ACCESS');
    expect((put as McpgError).message).toMatch(new RegExp(`^the guard cache ${dir} cannot be used: .*\\((EPERM|EACCES|EROFS)\\) \\(set MCPG_CACHE_DIR to a writable directory\\)$`));
    await expect(cache.exclusive('k', async () => 1)).rejects.toThrow(/cannot be used/);
  });
});

describe('derived entries (metered modules)', () => {
  it('are made once, and an entry this machine did not write is made again, not trusted', () => {
    const dir = tempDir();
    process.env.XDG_CONFIG_HOME = join(dir, 'config');
    let made = 0;
    const make = () => (made++, new Uint8Array([1, 2, 3]));
    expect([...new Cache(dir).derived('k', make)]).toEqual([1, 2, 3]);
    expect([...new Cache(dir).derived('k', make)]).toEqual([1, 2, 3]);
    expect(made).toBe(1);
    // A cache restored from elsewhere: same key, other bytes, a tag made with another secret.
    const file = join(dir, 'derived', createHash('sha256').update('k').digest('hex'));
    writeFileSync(file, Buffer.concat([Buffer.alloc(32, 7), Buffer.from([9, 9, 9])]));
    logged = '';
    expect([...new Cache(dir).derived('k', make)]).toEqual([1, 2, 3]);
    expect(made).toBe(2);
    expect(logged).toMatch(/was not written by this machine's mcpg: made again/);
  });

  it('are made, not kept, when mcpg has no config dir to keep their key in', () => {
    const dir = tempDir();
    // A file where the config dir would be: no key can be made under it.
    writeFileSync(join(dir, 'not-a-dir'), '');
    const before = process.env.XDG_CONFIG_HOME;
    process.env.XDG_CONFIG_HOME = join(dir, 'not-a-dir');
    try {
      let made = 0;
      const make = () => (made++, new Uint8Array([4]));
      logged = '';
      expect([...new Cache(dir).derived('k', make)]).toEqual([4]);
      expect([...new Cache(dir).derived('k', make)]).toEqual([4]);
      expect(made).toBe(2);
      expect(logged).toMatch(/cannot read .*cache\.key: .*\(ENOTDIR\): derived entries \(metered guard modules, verdicts\) are not kept/);
      expect(existsSync(join(dir, 'derived'))).toBe(false);
    } finally {
      process.env.XDG_CONFIG_HOME = before;
    }
  });
});

describe('mcpg cache gc', () => {
  it('drops metered modules with the unlocked blobs: they are made again when used', async () => {
    const dir = tempDir();
    const cache = new Cache(dir);
    cache.put(new Uint8Array([5]));
    cache.derived('metered v1 x', () => new Uint8Array([1]));
    const config = join(dir, 'mcpg.toml');
    writeFileSync(config, '[servers.a]\ncommand = "true"\n');
    const r = await mcpgAsync(['cache', 'gc', config], { MCPG_CACHE_DIR: dir });
    expect(r.stdout).toBe(`${dir}: dropped 1, kept 0; dropped 1 derived entries (metered modules, verdicts: made again when used)\n`);
    expect(existsSync(join(dir, 'derived'))).toBe(false);
  });
});
