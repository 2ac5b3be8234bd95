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
import { configureLog } from '../../src/shared/log.ts';
import { AuditLog } from '../../src/proxy/audit.ts';
import { fixtureServer, mcpgRun, tempDir, writeConfig } from '../helpers/mcpg.ts';

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
    expect(logged.join('')).toMatch(new RegExp(`${zero} is a symbolic link: discarded`));
    expect(logged.join('')).toMatch(new RegExp(`${fifo} is not a regular file: discarded`));
    // Discarded: the next look finds nothing there.
    expect(() => statSync(join(dir, 'sha256', fifo))).toThrow();
    // A derived entry (a metered module) that is a FIFO is made again, not waited on.
    const derived = join(dir, 'derived');
    mkdirSync(derived);
    mkfifo(join(derived, createHash('sha256').update('k').digest('hex')));
    expect(cache.derived('k', () => new Uint8Array([1, 2, 3]))).toEqual(new Uint8Array([1, 2, 3]));
    configureLog({ writer: undefined });
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
    expect(fifo.stderr).toMatch(/cannot open the audit log .*fifo\.jsonl: (it is a FIFO or socket with no reader \(ENXIO\)|.*is not a regular file)/);
  });
});
