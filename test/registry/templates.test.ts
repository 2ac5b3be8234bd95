import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildGo, runGo } from '../../scripts/go-toolchain.mjs';
import { buildRust } from '../../scripts/rust-toolchain.mjs';
import { ROOT, mcpg, tempDir } from '../helpers/mcpg.ts';

const SDK = 'github.com/mcpg-dev/mcpg/registry/sdk/go';

/** The template as built answers a call, and passes its own cases (one a missing required field). */
function expectTemplateAnswers(dir: string): void {
  const r = mcpg(['guard', 'call', join(dir, 'guard.wasm'), 'label_resource', '--input', '{"tool_name":"list_things","tool_args":{}}']);
  expect(r.stderr).toBe('');
  expect(JSON.parse(r.stdout)).toEqual({ resource: { description: 'list_things', secrecy: [], integrity: [] }, operation: 'read' });
  // The template's own cases, one of them a required field missing: denied with its name.
  const t = mcpg(['guard', 'test', join(dir, 'guard.wasm'), join(dir, 'cases.toml')]);
  expect(t.stdout.trim().split('\n').pop()).toBe('4 passed, 0 failed');
  expect(t.code).toBe(0);
}

describe('registry/templates/go', () => {
  it('builds with the Go SDK copied beside it into a module that fits the ABI', { timeout: 120_000 }, async () => {
    const dir = join(tempDir(), 'my-guard');
    cpSync(join(ROOT, 'registry/templates/go'), dir, { recursive: true });
    cpSync(join(ROOT, 'registry/sdk/go'), join(dir, 'sdk'), { recursive: true });
    await buildGo(dir, join(dir, 'guard.wasm'));
    // Native tests on the author's machine: the SDK's host stubs stand in for the gateway.
    const native = runGo(dir, ['test', '-v', './...', SDK], { native: true, stdio: 'pipe' });
    expect(native).toContain('--- PASS: TestADeleteWithoutItsIDIsDenied');
    expect(native).toContain('--- PASS: TestResponseLabelsIsOneABIShape');
    runGo(dir, ['vet', './...', SDK], { native: true, stdio: 'pipe' });
    runGo(dir, ['vet', './...', SDK], { stdio: 'pipe' });
    expectTemplateAnswers(dir);

    // A panic costs its call, with its message: the SDK recovers in every export.
    const main = join(dir, 'main.go');
    writeFileSync(main, readFileSync(main, 'utf8').replace('{ return nil, nil }', '{ var m map[string]int; m[c.ToolName]++; return nil, nil }'));
    await buildGo(dir, join(dir, 'guard.wasm'));
    const cases = join(dir, 'panic.toml');
    writeFileSync(cases, `[[case]]\nfn = "label_response"\ninput = { tool_name = "x" }\nexpect_error = "returned error code -1: panic: assignment to entry in nil map"\n`);
    const panicked = mcpg(['guard', 'test', join(dir, 'guard.wasm'), cases]);
    expect(panicked.stdout).toContain('1 passed, 0 failed');
  });
});

describe('registry/templates/rust', () => {
  it('builds with the Rust SDK copied beside it into a module that fits the ABI', { timeout: 300_000 }, async () => {
    const dir = join(tempDir(), 'my-guard');
    cpSync(join(ROOT, 'registry/templates/rust'), dir, { recursive: true });
    cpSync(join(ROOT, 'registry/sdk/rust'), join(dir, 'sdk'), { recursive: true });
    await buildRust(dir, join(dir, 'guard.wasm'));
    expectTemplateAnswers(dir);
  });
});
