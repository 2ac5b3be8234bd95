// The WASI calls a guard makes, bounded: what it writes to stdout or stderr is priced by its
// bytes and kept in lines of at most 4 KiB, however long the line it never ends.
import { describe, expect, it } from 'vitest';
import { wasiImports } from '../../src/guard/wasi.ts';
import type { Logger } from '../../src/shared/log.ts';

describe('fd_write', () => {
  it('keeps an unfinished line within 4 KiB and charges every byte', () => {
    const memory = new WebAssembly.Memory({ initial: 200 });
    const lines: string[] = [];
    const log = { info: (l: string) => lines.push(l), warn: (l: string) => lines.push(l) } as unknown as Logger;
    let charged = 0;
    const wasi = wasiImports(() => memory, log, ['fd_write'], async () => {}, (bytes) => (charged += bytes));
    const fdWrite = wasi.fd_write as (fd: number, iovs: number, count: number, written: number) => number;
    const bytes = new Uint8Array(memory.buffer);
    const view = new DataView(memory.buffer);
    // One iovec at 0 pointing at 10 MiB of "a" from 1024, written 10 times, then a newline.
    bytes.fill(0x61, 1024, 1024 + 10 * 1024 * 1024);
    view.setUint32(0, 1024, true);
    view.setUint32(4, 10 * 1024 * 1024, true);
    for (let i = 0; i < 10; i++) expect(fdWrite(1, 0, 1, 16)).toBe(0);
    bytes[1024] = 0x0a;
    view.setUint32(4, 1, true);
    fdWrite(1, 0, 1, 16);
    expect(lines.length).toBeGreaterThan(0);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(4096);
    expect(charged).toBe(100 * 1024 * 1024 + 1);
  });
});
