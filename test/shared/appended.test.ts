// The executable's assets read from its own file (src/shared/appended.ts): only where the trailer
// the build appended says, and only bytes that fit what node:sea holds; anything else is undefined
// (src/sea.ts then reads them through node:sea).
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendedAssets, assetTrailer } from '../../src/shared/appended.ts';

const js = Buffer.from(`/*mcpg-build ${'a'.repeat(32)}*/(function () { return 1; })`.padEnd(5000, ' '));
const cache = Buffer.concat([Buffer.from(`mcpg-code-cache/1 ${'a'.repeat(32)} ${'b'.repeat(64)}\n`), Buffer.alloc(3000, 7)]);
const expected = (over: Partial<Record<'js' | 'cache', { length?: number; starts?: Buffer }>> = {}) => ({
  'mcpg.js': { length: over.js?.length ?? js.length, starts: over.js?.starts ?? js.subarray(0, 64) },
  'mcpg.cache': { length: over.cache?.length ?? cache.length, starts: over.cache?.starts ?? cache.subarray(0, 64) },
});

/** An "executable": other bytes, the assets inside, the trailer after (as the build makes it). */
function executable(trailer = true): string {
  const file = join(mkdtempSync(join(tmpdir(), 'mcpg-appended-')), 'mcpg');
  const image = Buffer.concat([Buffer.alloc(10_000, 1), js, Buffer.alloc(777, 2), cache, Buffer.alloc(500, 3)]);
  writeFileSync(file, image);
  if (trailer) appendFileSync(file, assetTrailer(image, { 'mcpg.js': js, 'mcpg.cache': cache }));
  return file;
}

describe('assets appended to the executable', () => {
  it('are read where the trailer says', () => {
    const found = appendedAssets(executable(), expected());
    expect(found?.get('mcpg.js')?.equals(js)).toBe(true);
    expect(found?.get('mcpg.cache')?.equals(cache)).toBe(true);
  });

  it('are not read without a trailer, or when they do not fit what node:sea holds', () => {
    expect(appendedAssets(executable(false), expected())).toBeUndefined();
    const file = executable();
    expect(appendedAssets(file, expected({ js: { length: js.length + 1 } }))).toBeUndefined();
    // Another build's bundle of the same length (another id at its start).
    expect(appendedAssets(file, expected({ cache: { starts: Buffer.from(`mcpg-code-cache/1 ${'c'.repeat(32)}`) } }))).toBeUndefined();
    expect(appendedAssets(join(file, 'missing'), expected())).toBeUndefined();
  });

  it('are not read where a damaged trailer points', () => {
    const file = executable(false);
    appendFileSync(file, Buffer.from(`mcpg-assets/1 {"mcpg.js":[999999999,${js.length}],"mcpg.cache":[0,${cache.length}]}`.padEnd(256, ' ')));
    expect(appendedAssets(file, expected())).toBeUndefined();
    const garbled = executable(false);
    appendFileSync(garbled, Buffer.from('mcpg-assets/1 {"mcpg.js":'.padEnd(256, ' ')));
    expect(appendedAssets(garbled, expected())).toBeUndefined();
  });

  it('the build refuses an asset that is not in the executable whole, or begins twice', () => {
    expect(() => assetTrailer(Buffer.concat([js.subarray(0, 4000)]), { 'mcpg.js': js })).toThrow(/not in the executable/);
    expect(() => assetTrailer(Buffer.concat([js, js]), { 'mcpg.js': js })).toThrow(/begins twice/);
  });
});
