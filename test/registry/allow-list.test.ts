import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { limitsSchema } from '../../src/config/schema.ts';
import { WasmGuard, compileGuard } from '../../src/guard/wasm-guard.ts';
import { ROOT, fixtureServer, mcpg, startGateway, tempDir, writeConfig } from '../helpers/mcpg.ts';

const GUARD = join(ROOT, 'dist/guards/allow-list.wasm');

describe('allow-list guard (AssemblyScript, built from source)', () => {
  it('lets the listed tools through and refuses the others, in every mode', async () => {
    for (const mode of ['strict', 'filter', 'propagate']) {
      const dir = tempDir();
      const config = writeConfig(dir, {
        gateway: { mode },
        mcpServers: { t: { ...fixtureServer('tools.ts', 't'), guard: 'only' } },
        guards: { only: { path: GUARD, policy: { allow: ['echo', 'whoami'] } } },
      });
      const gw = await startGateway(config);
      try {
        expect((await gw.call('t___echo', { text: 'ok' })).text).toBe('t: ok');
        const add = await gw.call('t___add', { a: 1, b: 2 });
        expect(add.isError).toBe(true);
        expect(add.text).toMatch(/denied write of "add" on server "t": the agent lacks integrity tags the resource requires: allow-list:never/);
      } finally {
        await gw.close();
      }
    }
  });

  it('prompts and resources of a guarded server pass through the guard too', async () => {
    const dir = tempDir();
    const config = writeConfig(dir, {
      mcpServers: { t: { ...fixtureServer('tools.ts', 't'), guard: 'only' } },
      guards: { only: { path: GUARD, policy: { allow: ['resources/read'] } } },
    });
    const gw = await startGateway(config);
    try {
      expect((await gw.client.readResource({ uri: 'fixture://t/info' })).contents[0]).toMatchObject({ text: 'info of t' });
      await expect(gw.client.getPrompt({ name: 't___greet', arguments: { who: 'x' } })).rejects.toThrow(
        /denied write of "prompts\/get" on server "t"/,
      );
    } finally {
      await gw.close();
    }
  });

  it('mcpg guard call shows its validated answer', () => {
    const r = mcpg(['guard', 'call', GUARD, 'label_resource', '--policy', '{"allow":["a"]}', '--input', '{"tool_name":"b","tool_args":{}}']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      resource: { description: 'b (not allow-listed)', secrecy: [], integrity: ['allow-list:never'] },
      operation: 'write',
      response: 'resource',
    });
  });

  it("reads strings of any length as written: the SDK's long strings (kept as bytes until read) and escapes", async () => {
    const limits = limitsSchema.parse({});
    const guard = new WasmGuard('only', await compileGuard('only', readFileSync(GUARD), limits), limits);
    const backend = async () => ({});
    // Around the SDK's 256-byte threshold; plain, non-ASCII, and with what JSON escapes (quote,
    // backslash, newline, a lone surrogate, which reads as U+FFFD).
    const names = [
      'a'.repeat(255),
      'b'.repeat(256),
      `${'é'.repeat(150)}😀`,
      `${'q'.repeat(300)}"\\\n\t`,
      `${'s'.repeat(300)}\ud800end`,
      'short "quoted" \\ é',
    ];
    await guard.labelAgent({ allow: names }, backend);
    for (const name of names) {
      const allowed = await guard.labelResource(name, { text: name }, backend);
      expect(allowed.operation, name).toBe('read');
      expect(allowed.resource.description).toBe(name.replace('\ud800', '\ufffd'));
      const other = await guard.labelResource(`${name}x`, {}, backend);
      expect(other.operation, name).toBe('write');
      expect(other.resource.description).toBe(`${name}x (not allow-listed)`.replace('\ud800', '\ufffd'));
    }
  });
});
