import { createHash } from 'node:crypto';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildRust, testRust } from '../../scripts/rust-toolchain.mjs';
import { ROOT, tempDir } from '../helpers/mcpg.ts';
import { expectTemplateAnswers } from './template-checks.ts';

describe('registry/templates/rust', () => {
  it('builds with the Rust SDK copied beside it into a module that fits the ABI', { timeout: 300_000 }, async () => {
    const dir = join(tempDir(), 'my-guard');
    cpSync(join(ROOT, 'registry/templates/rust'), dir, { recursive: true });
    cpSync(join(ROOT, 'registry/sdk/rust'), join(dir, 'sdk'), { recursive: true });
    await buildRust(dir, join(dir, 'guard.wasm'));
    expectTemplateAnswers(dir);
    // Native tests on the author's machine: the SDK's `fake` module stands in for the gateway.
    expect(testRust(dir)).toContain('test tests::a_delete_without_its_id_is_denied ... ok');
    expect(testRust(join(dir, 'sdk'))).toContain('test tests::call_backend_answers_from_the_fake_backend ... ok');
    // Its release workflow runs its cases with mcpg before it attests and releases, as the
    // AssemblyScript and Go templates' do, on the module its cargo build line makes.
    const workflow = readFileSync(join(dir, '.github/workflows/release.yml'), 'utf8');
    const steps = ['cargo test', 'cargo build --release --target wasm32-wasip1', 'guard test guard.wasm cases.toml', 'actions/attest-build-provenance', 'gh release create'];
    expect(steps.map((step) => workflow.indexOf(step))).toEqual([...steps.map((step) => workflow.indexOf(step))].sort((a, b) => a - b));
    expect(steps.every((step) => workflow.includes(step))).toBe(true);
    expect(workflow).toContain(`target/wasm32-wasip1/release/${readFileSync(join(dir, 'Cargo.toml'), 'utf8').match(/^name = "(.*)"$/m)![1]!.replaceAll('-', '_')}.wasm`);
  });

  it('builds a guard into the same module wherever its sources are checked out', { timeout: 300_000 }, async () => {
    // Another checkout: the guard and the SDK at the same relative places, under another root.
    const elsewhere = join(tempDir(), 'another-checkout');
    cpSync(join(ROOT, 'registry/guards/repo-visibility-rust'), join(elsewhere, 'registry/guards/repo-visibility-rust'), { recursive: true });
    cpSync(join(ROOT, 'registry/sdk/rust'), join(elsewhere, 'registry/sdk/rust'), { recursive: true });
    const built = join(elsewhere, 'guard.wasm');
    await buildRust(join(elsewhere, 'registry/guards/repo-visibility-rust'), built);
    const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
    expect(sha(built)).toBe(sha(join(ROOT, 'dist/guards/repo-visibility-rust.wasm')));
  });
});
