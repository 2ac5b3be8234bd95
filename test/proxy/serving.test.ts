// A gateway says when it serves, on a diagnostics channel (src/shared/channels.ts): the single
// executable's entry (src/sea.ts) lets V8 optimize sooner from then on, and not during start-up.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/proxy/gateway.ts';
import { SERVING } from '../../src/shared/channels.ts';
import { inProcess } from '../helpers/in-process.ts';
import { fixtureServer } from '../helpers/mcpg.ts';

describe('the serving channel', () => {
  it('is published once, when the servers are started and their tools listed, not before', async () => {
    const seen: { ready: boolean; tools: number }[] = [];
    const listen = (message: unknown) => {
      const gateway = message as Gateway;
      seen.push({ ready: gateway.ready, tools: gateway.catalog.tools().length });
    };
    subscribe(SERVING, listen);
    try {
      const gw = await inProcess({ mcpServers: { t: fixtureServer('tools.ts') } });
      try {
        expect((await gw.call('t___add', { a: 1, b: 2 })).text).toBe('3');
        expect(seen).toHaveLength(1);
        expect(seen[0]!.ready).toBe(true);
        expect(seen[0]!.tools).toBeGreaterThan(0);
      } finally {
        await gw.close();
      }
    } finally {
      unsubscribe(SERVING, listen);
    }
  });

  it('is not published by a gateway whose servers cannot start', async () => {
    const seen: unknown[] = [];
    const listen = (message: unknown) => seen.push(message);
    subscribe(SERVING, listen);
    try {
      await expect(inProcess({ mcpServers: { gone: { command: '/nonexistent/mcp-server' } } })).rejects.toThrow();
      expect(seen).toEqual([]);
    } finally {
      unsubscribe(SERVING, listen);
    }
  });
});
