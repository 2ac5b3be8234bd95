// The executable's code cache is used only for the bundle it was made for (src/shared/code-cache.ts):
// V8 alone takes a cache made for another source of the same length and runs that source's code.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Script } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { compileBundle, markBundle, sealCache } from '../../src/shared/code-cache.ts';

const marked = (code: string) => markBundle(createHash('sha256').update(code).digest('hex').slice(0, 32), code);
/**
 * A bundle as the build makes it, and the cache V8 made after running it, in another process
 * as the build does (a source this process compiled would come from V8's own in-memory cache).
 */
function built(code: string): { bundle: string; cache: Buffer } {
  const bundle = marked(code);
  const make = `const { Script } = require('node:vm'); const s = new Script(process.argv[1], { filename: 'mcpg.cjs' }); s.runInThisContext()(); process.stdout.write(s.createCachedData().toString('base64'));`;
  return { bundle, cache: Buffer.from(execFileSync(process.execPath, ['-e', make, bundle], { encoding: 'utf8' }), 'base64') };
}
const run = (script: Script) => (script.runInThisContext() as () => number)();
/** A bundle of the same length whose answer is another, each test its own (V8 remembers what it compiled). */
const variant = (n: number, answer: number) => `(function () { function answer${n}() { return ${answer}; } return answer${n}(); })`;

describe('the code cache in the executable', () => {
  it('is used for the bundle it was made for', () => {
    const { bundle, cache } = built(variant(1, 1111));
    const { script, problem } = compileBundle(bundle, sealCache(bundle, cache), 'mcpg.cjs');
    expect(problem).toBeUndefined();
    expect(script.cachedDataRejected).toBe(false);
    expect(run(script)).toBe(1111);
  });

  it('made for another bundle, is not used: the bundle runs its own code', () => {
    const old = built(variant(2, 1111));
    const now = marked(variant(2, 2222));
    expect(now.length).toBe(old.bundle.length);
    const { script, problem } = compileBundle(now, sealCache(old.bundle, old.cache), 'mcpg.cjs');
    expect(problem).toBe('it was made for another build of the bundle');
    expect(run(script)).toBe(2222);
    // What V8 alone does with it: takes it, and runs the other bundle's code.
    const again = marked(variant(3, 2222));
    const unchecked = new Script(again, { filename: 'mcpg.cjs', cachedData: built(variant(3, 1111)).cache });
    expect(unchecked.cachedDataRejected).toBe(false);
    expect(run(unchecked)).toBe(1111);
  });

  it('damaged or unsealed, is not used', () => {
    const { bundle, cache } = built(variant(4, 1111));
    const sealed = sealCache(bundle, cache);
    sealed[sealed.length - 8]! ^= 0xff;
    const damaged = compileBundle(bundle, sealed, 'mcpg.cjs');
    expect(damaged.problem).toBe('its bytes are not those sealed (damaged)');
    expect(run(damaged.script)).toBe(1111);
    const raw = compileBundle(bundle, cache, 'mcpg.cjs');
    expect(raw.problem).toBe('it is not a sealed mcpg code cache');
  });

  it('sealed, but refused by V8, is said so', () => {
    const bundle = marked(variant(5, 1111));
    // The seal of this bundle around a cache V8 made for another source (of another length).
    const { problem, script } = compileBundle(bundle, sealCache(bundle, built('(function () { return 3; })').cache), 'mcpg.cjs');
    expect(problem).toMatch(/V8 refused it/);
    expect(run(script)).toBe(1111);
  });
});
