// Files in mcpg's own directories, as an attacker with write access there would leave them: a
// cache entry that is a link to /dev/zero or a FIFO, an audit log that is a link or a FIFO. Each
// is refused at once (nothing follows the link, nothing blocks on the FIFO, nothing is read
// without bound), and what mcpg creates is 0600.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Cache } from '../../src/supply/cache.ts';
import { makeDirs } from '../../src/shared/files.ts';
import { configureLog } from '../../src/shared/log.ts';
import { AuditLog } from '../../src/proxy/audit.ts';
import { ROOT, fixtureServer, mcpgAsync, mcpgRun, tempDir, writeConfig } from '../helpers/mcpg.ts';

const mkfifo = (path: string) => expect(spawnSync('mkfifo', [path]).status).toBe(0);

describe("files in mcpg's directories", () => {
  it('a cache entry that is a link to /dev/zero, or a FIFO, is discarded at once, not read', () => {
    const logged: string[] = [];
    configureLog({ writer: (l) => logged.push(l) });
    const dir = tempDir();
    const cache = new Cache(dir);
    mkdirSync(join(dir, 'sha256'), { recursive: true });
    const zero = 'a'.repeat(64);
    const fifo = 'b'.repeat(64);
    symlinkSync('/dev/zero', join(dir, 'sha256', zero));
    mkfifo(join(dir, 'sha256', fifo));
    expect(cache.get(zero)).toBeUndefined();
    expect(cache.get(fifo)).toBeUndefined();
    expect(logged.join('')).toMatch(new RegExp(`${zero}: it is a symbolic link; discarded`));
    expect(logged.join('')).toMatch(new RegExp(`${fifo}: it is a FIFO, not a regular file; discarded`));
    // Discarded: the next look finds nothing there.
    expect(() => statSync(join(dir, 'sha256', fifo))).toThrow();
    // A derived entry (a metered module) that is a FIFO is made again, not waited on.
    const derived = join(dir, 'derived');
    mkdirSync(derived);
    mkfifo(join(derived, createHash('sha256').update('k').digest('hex')));
    expect(cache.derived('k', () => new Uint8Array([1, 2, 3]))).toEqual(new Uint8Array([1, 2, 3]));
    configureLog({ writer: undefined });
  });

  it("mcpg's directories are made as far as they can be: where mkdir cannot (under /proc) the error comes at once, not a hang", () => {
    const dir = join(tempDir(), 'a', 'b', 'c');
    makeDirs(dir, 0o700);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, '..')).mode & 0o777).toBe(0o700);
    makeDirs(dir);
    // Node's recursive mkdirSync never returns here.
    expect(() => makeDirs('/proc/mcpg-nowhere/mcpg')).toThrow(/ENOENT/);
    const r = spawnSync(process.execPath, [join(ROOT, 'dist/mcpg.cjs'), 'cache', 'ls'], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, MCPG_CACHE_DIR: '/proc/mcpg-nowhere/cache' } });
    expect(r.signal).toBeNull();
    expect(r.stderr).toMatch(/the guard cache \/proc\/mcpg-nowhere\/cache cannot be used/);
  });

  it('the audit log is created 0600; one that is a link or a FIFO is refused with the path and the reason', async () => {
    const dir = tempDir();
    new AuditLog(join(dir, 'new.jsonl')).close();
    expect(statSync(join(dir, 'new.jsonl')).mode & 0o777).toBe(0o600);
    const target = join(dir, 'elsewhere');
    writeFileSync(target, '');
    symlinkSync(target, join(dir, 'link.jsonl'));
    mkfifo(join(dir, 'fifo.jsonl'));
    const config = writeConfig(dir, { mcpServers: { s: fixtureServer('tools.ts', 's') } });
    const link = await mcpgRun(config, ['--audit-log', join(dir, 'link.jsonl')]);
    expect(link.code).toBe(3);
    expect(link.stderr).toMatch(/cannot open the audit log .*link\.jsonl: it is a symbolic link, which mcpg does not follow here \(ELOOP\)/);
    const fifo = await mcpgRun(config, ['--audit-log', join(dir, 'fifo.jsonl')]);
    expect(fifo.code).toBe(3);
    expect(fifo.stderr).toMatch(/cannot open the audit log .*fifo\.jsonl: (it is a FIFO or socket with no reader \(ENXIO\)|it is a FIFO, not a regular file)/);
  });
});

// Files a user (or whoever wrote the config) names: a config, a guard, guards.lock, a bundle, a
// trusted root, a certificate. A link is followed, but a device such as /dev/zero or a FIFO is
// refused at once, and a file past its size is not read: one clear error, never a hang or a crash.
describe('files a config or a command names', () => {
  it('a device, a FIFO or an oversized file is refused with its name, wherever it is named', async () => {
    const dir = tempDir();
    const fifo = join(dir, 'fifo');
    mkfifo(fifo);
    const server = fixtureServer('tools.ts', 's');
    // The config itself.
    for (const bad of ['/dev/zero', fifo]) {
      const r = await mcpgAsync(['guard', 'verify', '--config', bad]);
      expect(r.code).toBe(3);
      expect(r.stderr).toBe(`mcpg: ${bad}: cannot read config: it is a ${bad === fifo ? 'FIFO' : 'device'}, not a regular file\n`);
    }
    // A config through a link is read as the file it links to.
    const real = writeConfig(dir, { mcpServers: { s: server } }, 'real.json');
    symlinkSync(real, join(dir, 'link.json'));
    expect((await mcpgAsync(['guard', 'verify', '--config', join(dir, 'link.json')])).code).toBe(0);
    // A guard's path; guards.lock; a trusted root.
    const guard = (path: string, extra: object = {}) => writeConfig(dir, { mcpServers: { s: { ...server, guard: 'g' } }, guards: { g: { path, ...extra } } }, 'guarded.json');
    const zeroGuard = await mcpgRun(guard('/dev/zero'));
    expect(zeroGuard.code).not.toBe(0);
    expect(zeroGuard.stderr).toMatch(/guard "g": cannot read \/dev\/zero: it is a device, not a regular file/);
    expect(zeroGuard.stderr).not.toMatch(/internal error|\n\s+at /);
    const lockDir = tempDir();
    const lockConfig = writeConfig(lockDir, { gateway: { lock: fifo }, mcpServers: { s: server } });
    const lock = await mcpgAsync(['guard', 'verify', '--config', lockConfig]);
    expect(lock.code).toBe(6);
    expect(lock.stderr).toMatch(/fifo: cannot read: it is a FIFO, not a regular file/);
    const rooted = guard(join(ROOT, 'dist/guards/allow-list.wasm'), { signer: { repository: 'o/r' }, bundle: '/dev/zero', trusted_root: fifo });
    const root = await mcpgAsync(['guard', 'lock', '--config', rooted]);
    expect(root.code).not.toBe(0);
    expect(root.stderr).toMatch(/cannot read trusted root .*fifo: it is a FIFO, not a regular file/);
    // A certificate for serve.
    const tls = await mcpgAsync(['serve', '--config', real, '--listen', '127.0.0.1:0', '--tls-cert', '/dev/zero', '--tls-key', fifo]);
    expect(tls.code).toBe(2);
    expect(tls.stderr).toMatch(/--tls-cert \/dev\/zero: it is a device, not a regular file/);
    // A file past its size: a bundle for guard push is at most 1 MiB.
    const big = join(dir, 'big.sigstore.json');
    writeFileSync(big, Buffer.alloc(1024 * 1024 + 1, 0x20));
    const push = await mcpgAsync(['guard', 'push', join(ROOT, 'dist/guards/allow-list.wasm'), 'oci://127.0.0.1:9/g:1', '--bundle', big]);
    expect(push.code).not.toBe(0);
    expect(push.stderr).toMatch(/big\.sigstore\.json: it is larger than 1 MiB/);
  });
});
