// The templates' release workflows, read as GitHub reads them: each tests the guard on its cases,
// attests and releases the module, then pushes it to ghcr.io and attests the pushed manifest with
// its provenance stored beside it (push-to-registry), with the permissions that needs.
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT, tempDir } from '../helpers/mcpg.ts';

interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Workflow {
  permissions: Record<string, string>;
  jobs: Record<string, { steps: Step[] }>;
}

describe.each(['assemblyscript', 'go', 'rust'])('registry/templates/%s release workflow', (template) => {
  const workflow = parse(readFileSync(join(ROOT, 'registry/templates', template, '.github/workflows/release.yml'), 'utf8')) as Workflow;
  const steps = Object.values(workflow.jobs)[0]!.steps;
  const at = (test: (s: Step) => boolean) => steps.findIndex(test);

  it('tests, attests and releases, then pushes to ghcr.io and attests the manifest there', () => {
    expect(workflow.permissions).toMatchObject({ contents: 'write', packages: 'write', 'id-token': 'write', attestations: 'write' });
    const order = [
      at((s) => !!s.run?.includes('guard test guard.wasm cases.toml')),
      at((s) => !!s.uses?.startsWith('actions/attest-build-provenance') && s.with?.['subject-path'] === 'guard.wasm'),
      at((s) => !!s.run?.includes('gh release create')),
      at((s) => !!s.uses?.startsWith('docker/login-action') && s.with?.registry === 'ghcr.io'),
      at((s) => s.id === 'oci' && !!s.run?.includes('guard push guard.wasm "oci://$ref"')),
      at((s) => !!s.uses?.startsWith('actions/attest-build-provenance') && s.with?.['push-to-registry'] === true),
    ];
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    const attest = steps[order[5]!]!;
    expect(attest.with).toMatchObject({ 'subject-name': '${{ steps.oci.outputs.name }}', 'subject-digest': '${{ steps.oci.outputs.digest }}' });
  });

  it('hands the attestation the image name and the digest mcpg guard push prints', () => {
    const push = steps.find((s) => s.id === 'oci')!;
    const dir = tempDir();
    // mcpg as the step runs it: prints the pinned reference as `guard push` does.
    const digest = `sha256:${'c'.repeat(64)}`;
    for (const name of ['mcpg', 'mcpg-bin']) {
      writeFileSync(join(dir, name), `#!/bin/sh\nref="$4"; echo "\${ref#oci://}" | sed 's/:[^:/]*$//;s/$/@${digest}/'\n`);
      chmodSync(join(dir, name), 0o755);
    }
    const output = join(dir, 'output');
    writeFileSync(output, '');
    execFileSync('bash', ['-e', '-c', push.run!], { env: { ...process.env, RUNNER_TEMP: dir, GITHUB_REPOSITORY: 'Octo/My-Guard', GITHUB_REF_NAME: 'v1.2.3', GITHUB_OUTPUT: output } });
    expect(readFileSync(output, 'utf8')).toBe(`name=ghcr.io/octo/my-guard\ndigest=${digest}\n`);
  });
});
