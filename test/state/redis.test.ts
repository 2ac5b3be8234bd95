// The shared state in a real redis-server (Debian's): label updates are atomic across clients,
// calls in flight are counted across them, a store that is down or that lost its data refuses,
// and a store back with its data serves again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisState } from '../../src/state/redis.ts';
import { configureLog } from '../../src/shared/log.ts';
import { type TestRedis, redis } from '../helpers/debian-tools.ts';

configureLog({ level: 'error', writer: () => {} });
const NONE = { secrecy: [], integrity: [] };

describe('the shared state in Redis', () => {
  let store: TestRedis;
  beforeAll(async () => {
    store = await redis();
  }, 120_000);
  afterAll(() => store?.stop());

  it('merges reads from many clients at once into one agent\'s labels, losing none', async () => {
    const replicas = [new RedisState(store.url), new RedisState(store.url)];
    try {
      const initial = { secrecy: [], integrity: ['approved', 'x'] };
      await Promise.all(Array.from({ length: 64 }, (_, i) => replicas[i % 2]!.absorb('racer', initial, { secrecy: [`private:r${i}`], integrity: i === 63 ? ['approved'] : ['approved', 'x'] })));
      const labels = await replicas[0]!.labels('racer', initial);
      expect(labels.secrecy).toHaveLength(64);
      expect(labels.integrity).toEqual(['approved']);
      // Another agent's are its own.
      expect(await replicas[1]!.labels('other', NONE)).toEqual(NONE);
      // The deployment's secrets are one for all.
      const [one, two] = await Promise.all(replicas.map((r) => r.secret('k')));
      expect(one!.length).toBe(32);
      expect(one).toEqual(two);
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
    }
  });

  it('counts calls in flight over all clients, and a call of a replica that died lapses', async () => {
    const [a, b] = [new RedisState(store.url), new RedisState(store.url)];
    try {
      const first = await a.admit('busy', 2, 60_000);
      const second = await b.admit('busy', 2, 60_000);
      expect(first && second).toBeTruthy();
      expect(await a.admit('busy', 2, 60_000)).toBeUndefined();
      second!();
      await expect.poll(async () => Boolean(await b.admit('busy', 2, 60_000))).toBe(true);
      // Calls whose replica died: gone after their time.
      expect(await a.admit('lapse', 1, 200)).toBeTruthy();
      expect(await a.admit('lapse', 1, 200)).toBeUndefined();
      await new Promise((r) => setTimeout(r, 300));
      expect(await a.admit('lapse', 1, 200)).toBeTruthy();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('refuses while the store is down and serves when it is back; refuses a store that lost its data', async () => {
    const state = new RedisState(store.url);
    try {
      await state.absorb('kept', NONE, { secrecy: ['private:kept'], integrity: [] });
      await store.stop();
      await expect(state.labels('kept', NONE)).rejects.toThrow(/the shared state at redis:\/\/127\.0\.0\.1:\d+\/0 cannot be reached .*calls that need labels are refused until it is back/);
      await store.start();
      // Back with its data (its append-only file): the taint is still there.
      await expect.poll(() => state.labels('kept', NONE).catch(() => undefined), { timeout: 10_000 }).toEqual({ secrecy: ['private:kept'], integrity: [] });
      store.cli('FLUSHALL');
      await expect(state.labels('kept', NONE)).rejects.toThrow(/no longer holds the labels it held/);
      // And again: a replica does not mark the store anew by itself (the taint would be forgotten).
      await expect(state.absorb('kept', NONE, NONE)).rejects.toThrow(/no longer holds the labels it held/);
    } finally {
      await state.close();
    }
  });
});
