// Odd input that used to surface as internal errors, each now a named refusal or handled.
import { describe, expect, it } from 'vitest';
import { withGuard } from '../../src/config/edit.ts';
import { McpgError } from '../../src/shared/errors.ts';
import { LineTransport } from '../../src/proxy/stdio.ts';
import { readGuardPackage } from '../../src/supply/tarball.ts';
import { PassThrough } from 'node:stream';
import { packTar } from '../helpers/tar.ts';

describe('odd input', () => {
  it('a guard package holding guard.wasm twice is refused (readers disagree on which one wins)', async () => {
    const manifest = JSON.stringify({ name: 'g', version: '1.0.0', abi: 'mcpg-guard/1' });
    const twice = await packTar([
      { name: 'guard.json', data: manifest },
      { name: 'guard.wasm', data: 'first' },
      { name: 'guard.wasm', data: 'second' },
    ]);
    const err = await readGuardPackage(twice, 'pkg.tar.gz').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(McpgError);
    expect((err as McpgError).message).toBe('pkg.tar.gz: bad guard package: it holds "guard.wasm" twice');
    const once = await packTar([
      { name: 'guard.json', data: manifest },
      { name: 'guard.wasm', data: 'only' },
    ]);
    expect(Buffer.from((await readGuardPackage(once, 'pkg.tar.gz')).wasm).toString()).toBe('only');
  });

  it('stdio lines: CRLF endings, blank lines, whitespace around a message and a byte-order mark are read as JSON reads them; other text is a parse error', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const t = new LineTransport(input, output, { maxBytes: 1024 });
    const got: unknown[] = [];
    const errors: string[] = [];
    t.onmessage = (m) => got.push(m);
    t.onerror = (e) => errors.push(e.message);
    await t.start();
    input.write('{"jsonrpc":"2.0","method":"a"}\r\n\r\n   \n\t{"jsonrpc":"2.0","method":"b"}  \r\n\ufeff{"jsonrpc":"2.0","method":"c"}\nnot json\r\n');
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual([{ jsonrpc: '2.0', method: 'a' }, { jsonrpc: '2.0', method: 'b' }, { jsonrpc: '2.0', method: 'c' }]);
    expect(errors).toHaveLength(1);
    expect(JSON.parse(String(output.read()))).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
  });

  it('guard add edits a JSON config that starts with a byte-order mark, and keeps the mark', () => {
    const text = '\ufeff{\n  "mcpServers": {\n    "s": { "command": "x" }\n  }\n}\n';
    const edited = withGuard('mcpg.json', text, 'g', 'allow-list@1.0.0', 's');
    expect(edited.startsWith('\ufeff{')).toBe(true);
    expect(JSON.parse(edited.slice(1))).toEqual({ mcpServers: { s: { command: 'x', guard: 'g' } }, guards: { g: { source: 'allow-list@1.0.0' } } });
  });
});
