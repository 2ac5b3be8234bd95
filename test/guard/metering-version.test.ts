// Metered modules are cached by METERING_VERSION: any change to what the rewriter writes must
// bump it, or a machine would run modules metered by an older rewriter. This pins the output
// for one module that has every construct the rewriter touches (a leaf called directly among them).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { compileGuard } from '../../src/guard/wasm-guard.ts';
import { METERING_VERSION, instrument } from '../../src/guard/wasm-binary.ts';
import { limitsSchema } from '../../src/config/schema.ts';
import { guardWat, watToBytes } from '../fixtures/guards/wat.ts';

const module = watToBytes(
  guardWat(
    `(local $i i32)
     (memory.fill (i32.const 4096) (i32.const 0) (i32.const 64))
     (memory.copy (i32.const 8192) (i32.const 4096) (i32.const 64))
     (block $done (loop $again
       (br_if $done (i32.ge_u (local.get $i) (i32.const 3)))
       (local.set $i (i32.add (local.get $i) (i32.const 1)))
       (br_table $again $done (local.get $i))))
     (drop (call $leaf (local.get $i)))
     (i32.const 0)`,
    '(func $leaf (param $x i32) (result i32) (i32.add (local.get $x) (i32.const 1)))',
  ),
);

describe('METERING_VERSION', () => {
  it('names the rewriter output: the pinned digest moves only with the version', () => {
    const out = instrument(module, { maxPages: 512, initialFuel: 3_000_000_000n }).bytes;
    const digest = createHash('sha256').update(out).digest('hex');
    expect({ version: METERING_VERSION, digest }, 'the rewriter output changed: bump METERING_VERSION, then pin the new digest here').toEqual({
      version: 3,
      digest: 'c0b0c01ce1462656262ca9e885b6f056d1f510b14cba5806ce871d98911b4278',
    });
  });

  it('keys the cached module by the original, the limits and the version', async () => {
    const limits = limitsSchema.parse({});
    const keys: string[] = [];
    const kept = new Map<string, Uint8Array>();
    const sha256 = createHash('sha256').update(module).digest('hex');
    const keep = (key: string, make: () => Uint8Array) => (keys.push(key), kept.get(key) ?? kept.set(key, make()).get(key)!);
    await compileGuard('g', module, limits, { sha256, keep });
    await compileGuard('g', module, limitsSchema.parse({ fuel: 7 }), { sha256, keep });
    expect(keys).toHaveLength(2);
    expect(keys[0]).toBe(`metered v${METERING_VERSION} ${sha256} 512 3000000000`);
    expect(keys[1]).toMatch(/ 70$/);
    // The same guard and limits again: the kept module serves, nothing is rewritten.
    let remade = false;
    await compileGuard('g', module, limits, { sha256, keep: (key, make) => kept.get(key) ?? ((remade = true), make()) });
    expect(remade).toBe(false);
  });
});
