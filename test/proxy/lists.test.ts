// What servers list is read bounded and checked, one server's fault never another's: pages
// that never end, entries that are not definitions, lists a server does not implement; URIs go
// to the server that offers them, matched in linear time.
import { describe, expect, it } from 'vitest';
import { UriTemplate } from '../../src/proxy/uri-template.ts';
import { inProcess } from '../helpers/in-process.ts';
import { fixtureServer } from '../helpers/mcpg.ts';

describe('lists, bounded and checked', () => {
  it('a repeated cursor, bad entries, a list that is not a list and a missing templates list each cost their server a warning, not the gateway', async () => {
    const gw = await inProcess({
      mcpServers: {
        loop: fixtureServer('lists.ts', 'cursor-loop'),
        bad: fixtureServer('lists.ts', 'bad-tools'),
        odd: fixtureServer('lists.ts', 'not-a-list'),
        ok: fixtureServer('tools.ts', 'ok'),
      },
    });
    try {
      const names = (await gw.client.listTools()).tools.map((t) => t.name);
      // The SDK's own client accepted the list (it rejects the whole list for one bad schema).
      expect(names).toEqual(expect.arrayContaining(['loop___t0', 'loop___tn', 'bad___fail', 'ok___echo']));
      expect(names.filter((n) => n.startsWith('bad___'))).toEqual(['bad___fail']);
      expect(names.filter((n) => n.startsWith('odd___'))).toEqual([]);
      const log = gw.log();
      expect(log).toMatch(/backend:loop.*tools\/list: a nextCursor came back; read 4 tools and stopped/);
      expect(log).toMatch(/backend:bad.*tools\/list: tools\[0\] is not an object; left out/);
      expect(log).toMatch(/backend:bad.*tools\/list: tools\[1\] has an inputSchema that is not an object schema/);
      expect(log).toMatch(/backend:odd.*answered tools\/list without a list of tools; read as none/);
      expect(log).toMatch(/backend:bad.*does not implement resources\/templates\/list \(-32601\); it lists no resourceTemplates/);
    } finally {
      await gw.close();
    }
  });

  it("a server's own -32000 reaches the agent as its error, not as \"server exited\"", async () => {
    const gw = await inProcess({ mcpServers: { s: fixtureServer('lists.ts', 'bad-tools') } });
    try {
      await expect(gw.client.callTool({ name: 's___fail', arguments: {} })).rejects.toMatchObject({ code: -32000, message: expect.stringMatching(/bad-tools's own -32000$/), data: { detail: 'from the server' } });
      // And the server is still up: nothing restarted.
      expect(gw.log()).not.toMatch(/exited|restarted/);
    } finally {
      await gw.close();
    }
  });
});

describe('resources go to the server that offers them', () => {
  it('a catch-all template receives no other server\'s URIs, whatever the order', async () => {
    for (const order of [['all', 'notes'], ['notes', 'all']]) {
      const servers = { all: fixtureServer('lists.ts', 'catch-all'), notes: fixtureServer('lists.ts', 'notes') };
      const gw = await inProcess({ mcpServers: Object.fromEntries(order.map((n) => [n, servers[n as keyof typeof servers]])) });
      try {
        expect((await gw.client.readResource({ uri: 'notes://42' })).contents[0]).toMatchObject({ text: 'read by notes' });
        await expect(gw.client.readResource({ uri: 'secret://elsewhere' })).rejects.toThrow(/no server offers resource "secret:\/\/elsewhere"/);
        expect(gw.log()).toMatch(/server "all": resource template \{\+any\} does not start with a URI scheme; no URI is routed to it/);
      } finally {
        await gw.close();
      }
    }
  });

  it('matches in time linear in the URI: eight {+x} against a near miss', () => {
    const t = new UriTemplate(`x://${Array.from({ length: 8 }, (_, i) => `{+v${i}}a`).join('')}b`);
    const uri = `x://${'a'.repeat(5000)}`;
    // A backtracking matcher takes minutes here (the old regular expression: 4.1 s at 8 segments
    // of a shorter URI); this is one pass over the URI per template position.
    expect(t.test(uri)).toBe(false);
    expect(t.test(`${uri}b`)).toBe(true);
    expect(new UriTemplate('notes://{id}').test('notes://42')).toBe(true);
    expect(new UriTemplate('notes://{id}').test('notes://4/2')).toBe(false);
    expect(new UriTemplate('files:///{+path}').test('files:///a/b/c')).toBe(true);
  });
});
