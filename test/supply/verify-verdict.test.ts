import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBeyondFiles, readOwnFile, readUserFile, readsTheSame, witnessReads } from '../../src/shared/files.ts';
import { Cache } from '../../src/supply/cache.ts';
import { exchange } from '../../src/supply/fetch.ts';
import { type VerifyRun, keepVerdict, keptVerdict } from '../../src/supply/verify-verdict.ts';
import { tempDir } from '../helpers/mcpg.ts';

const tryRead = (read: () => unknown) => {
  try {
    read();
  } catch {
    // Not there: witnessed as such.
  }
};

describe('the files a run read, witnessed', () => {
  it('notes each by the name it was read as, with what it found or that it found nothing, and tells when one reads otherwise', async () => {
    const dir = tempDir();
    const [a, b, link, own, absent] = ['a.toml', 'b.toml', 'link.toml', 'own', 'absent'].map((f) => join(dir, f)) as [string, string, string, string, string];
    writeFileSync(a, 'a = 1');
    writeFileSync(b, 'a = 1');
    writeFileSync(own, 'kept');
    symlinkSync(a, link);
    const { reads } = await witnessReads(async () => {
      readUserFile(link, 1024);
      readOwnFile(own, 1024);
      tryRead(() => readUserFile(absent, 1024));
      // An own file is never read through a link.
      tryRead(() => readOwnFile(link, 1024));
    });
    expect(reads?.map((r) => [r.file, r.follow, r.sha256 !== null])).toEqual([
      [link, true, true],
      [own, false, true],
      [absent, true, false],
      [link, false, false],
    ]);
    const [byLink, ownRead, absentRead] = reads!;
    expect(reads!.every(readsTheSame)).toBe(true);
    // The link pointed elsewhere, at the same bytes: still the same read.
    rmSync(link);
    symlinkSync(b, link);
    expect(readsTheSame(byLink!)).toBe(true);
    writeFileSync(b, 'a = 2');
    expect(readsTheSame(byLink!)).toBe(false);
    writeFileSync(own, 'kept!');
    expect(readsTheSame(ownRead!)).toBe(false);
    writeFileSync(absent, '');
    expect(readsTheSame(absentRead!)).toBe(false);
  });

  it('leaves out what derives from the reads (sealed entries, their key)', async () => {
    const cache = new Cache(join(tempDir(), 'cache'));
    cache.keep('k', Buffer.from('v'));
    const { reads } = await witnessReads(async () => cache.kept('k'));
    expect(reads).toEqual([]);
  });

  it('keeps no reads for a run that reached the network or saw a file change under it', async () => {
    expect((await witnessReads(async () => readBeyondFiles())).reads).toBeUndefined();
    const server = createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const fetched = await witnessReads(() => exchange(`http://127.0.0.1:${(server.address() as AddressInfo).port}/guard.wasm`));
    server.close();
    expect(fetched.value.status).toBe(404);
    expect(fetched.reads).toBeUndefined();
    const file = join(tempDir(), 'changing');
    writeFileSync(file, '1');
    const changed = await witnessReads(async () => {
      readUserFile(file, 1024);
      writeFileSync(file, '2');
      readUserFile(file, 1024);
    });
    expect(changed.reads).toBeUndefined();
    // Outside a witnessed run, nothing is noted.
    readBeyondFiles();
    expect((await witnessReads(async () => readUserFile(file, 1024))).reads).toHaveLength(1);
  });
});

describe('the kept verdict of a verify run', () => {
  const setup = async () => {
    const dir = tempDir();
    const cache = new Cache(join(dir, 'cache'));
    const config = join(dir, 'mcpg.toml');
    writeFileSync(config, '[guards]');
    const { reads } = await witnessReads(async () => readUserFile(config, 1024));
    const run: VerifyRun = { build: 'b1', argv: ['guard', 'verify', '--offline'], cwd: dir, env: { HOME: dir, X: undefined } };
    keepVerdict(cache, run, reads!, 'guards.lock: 1 guards verified');
    return { cache, config, run };
  };

  it('is what the run printed, for the same run with every file as it read', async () => {
    const { cache, config, run } = await setup();
    expect(keptVerdict(cache, { ...run, env: { HOME: run.env.HOME } })).toBe('guards.lock: 1 guards verified');
    writeFileSync(config, '[guards] ');
    expect(keptVerdict(cache, run)).toBeUndefined();
  });

  it('belongs to that run alone: another build, command line, directory or environment has none', async () => {
    const { cache, run } = await setup();
    for (const other of [{ build: 'b2' }, { argv: [...run.argv, '--json'] }, { cwd: '/' }, { env: { ...run.env, MCPG_CACHE_DIR: '/elsewhere' } }]) {
      expect(keptVerdict(cache, { ...run, ...other })).toBeUndefined();
    }
  });

  it('is not trusted when this machine did not seal it', async () => {
    const { cache, run } = await setup();
    const derived = join(cache.dir, 'derived');
    const [file] = readdirSync(derived);
    writeFileSync(join(derived, file!), Buffer.concat([Buffer.alloc(32), Buffer.from(JSON.stringify({ reads: [], output: 'forged' }))]));
    expect(keptVerdict(cache, run)).toBeUndefined();
  });
});
