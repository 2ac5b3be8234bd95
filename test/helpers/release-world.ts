import { afterAll, beforeAll } from 'vitest';
import { type FakeGitHub, fakeGitHub } from './fake-github.ts';
import { type TestSigstore, testSigstore } from './sigstore.ts';

/** A fake GitHub and a test Sigstore for the tests of one `describe` (or file), closed after. */
export function releaseWorld(): { gh: FakeGitHub; sigstore: TestSigstore } {
  const world = {} as { gh: FakeGitHub; sigstore: TestSigstore };
  beforeAll(async () => {
    world.gh = await fakeGitHub();
    world.sigstore = await testSigstore();
  });
  afterAll(() => {
    world.gh?.close();
    world.sigstore?.close();
  });
  return world;
}
