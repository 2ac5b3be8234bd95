import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGo, runGo } from '../../scripts/go-toolchain.mjs';
import { GO_MODULE as SDK, SDK_VERSION, goModule } from '../../scripts/sdk-packages.mjs';
import { ROOT, mcpg, tempDir } from '../helpers/mcpg.ts';
import { type SdkRegistry, serveSdks } from '../helpers/sdk-registry.ts';
import { expectTemplateAnswers } from './template-checks.ts';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('registry/templates/go', () => {
  let sdks: SdkRegistry;
  beforeAll(async () => {
    sdks = await serveSdks();
  });
  afterAll(() => sdks.close());

  it('builds alone, with the Go SDK fetched at its version through a module proxy, into a module that fits the ABI', { timeout: 120_000 }, async () => {
    const dir = join(tempDir(), 'my-guard');
    cpSync(join(ROOT, 'registry/templates/go'), dir, { recursive: true });
    // The template pins the SDK as published: its go.sum is the module the proxy serves (go checks it).
    expect(readFileSync(join(dir, 'go.sum'), 'utf8')).toBe(goModule().sum);
    const proxy = sdks.goproxy;
    const built = join(tempDir(), 'built.wasm');
    await buildGo(dir, built, { proxy });
    expect(sdks.requests).toContain(`/go/${SDK}/@v/v${SDK_VERSION}.zip`);
    cpSync(built, join(dir, 'guard.wasm'));
    // Native tests on the author's machine: the SDK's host stubs stand in for the gateway.
    const native = await runGo(dir, ['test', '-v', './...', SDK], { native: true, proxy });
    expect(native).toContain('--- PASS: TestADeleteWithoutItsIDIsDenied');
    expect(native).toContain('--- PASS: TestResponseLabelsIsOneABIShape');
    await runGo(dir, ['vet', './...', SDK], { native: true, proxy });
    await runGo(dir, ['vet', './...', SDK], { proxy });
    expectTemplateAnswers(dir);

    // One flag set: the build line of the docs, the registry README and the template's
    // workflow is the same, and it gives the digest mcpg's own build gives.
    const line = /GOOS=wasip1 GOARCH=wasm go build [^`\n]*/;
    const workflow = readFileSync(join(dir, '.github/workflows/release.yml'), 'utf8').match(line)![0].trim();
    expect(readFileSync(join(ROOT, 'docs/guard-authoring.md'), 'utf8').match(line)![0]).toBe(workflow);
    expect(readFileSync(join(ROOT, 'registry/README.md'), 'utf8').match(line)![0]).toBe(workflow);
    // Shell words of the line after `go`: a quoted word keeps its spaces, loses its quotes.
    const args = workflow.replace('GOOS=wasip1 GOARCH=wasm go ', '').match(/(?:[^\s"]|"[^"]*")+/g)!.map((a) => a.replaceAll('"', ''));
    await runGo(dir, args, { proxy });
    expect(sha256(readFileSync(join(dir, 'guard.wasm')))).toBe(sha256(readFileSync(built)));

    // A panic costs its call, with its message: the SDK recovers in every export.
    const main = join(dir, 'main.go');
    writeFileSync(main, readFileSync(main, 'utf8').replace('{ return nil, nil }', '{ var m map[string]int; m[c.ToolName]++; return nil, nil }'));
    await buildGo(dir, join(dir, 'guard.wasm'), { proxy });
    const cases = join(dir, 'panic.toml');
    writeFileSync(cases, `[[case]]\nfn = "label_response"\ninput = { tool_name = "x" }\nexpect_error = "returned error code -1: panic: assignment to entry in nil map"\n`);
    const panicked = mcpg(['guard', 'test', join(dir, 'guard.wasm'), cases]);
    expect(panicked.stdout).toContain('1 passed, 0 failed');
  });
});
