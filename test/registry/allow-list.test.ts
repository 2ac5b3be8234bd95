import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
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
    });
  });
});
