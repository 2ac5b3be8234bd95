import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fsFault, fsReason } from '../../src/shared/errors.ts';
import { tempDir } from '../helpers/mcpg.ts';

/** The error a real file-system call throws. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('it did not throw');
}

describe('file-system faults are user errors in plain words', () => {
  it('names the fault and keeps its code, for faults a user can fix', () => {
    const dir = tempDir();
    expect(fsReason(thrown(() => readFileSync(join(dir, 'missing'))))).toBe('no such file or directory (ENOENT)');
    expect(fsReason(thrown(() => writeFileSync(dir, 'x')))).toBe('it is a directory (EISDIR)');
    expect(fsReason(thrown(() => writeFileSync('/dev/full', 'x')))).toBe('no space left on the device (ENOSPC)');
    expect(fsReason(thrown(() => writeFileSync(join(dir, 'missing', 'f'), 'x')))).toBe('no such file or directory (ENOENT)');
  });

  it('leaves other errors as they are', () => {
    expect(fsFault(new Error('boom'))).toBeUndefined();
    expect(fsReason(new Error('boom'))).toBe('boom');
    expect(fsFault(null)).toBeUndefined();
  });
});
