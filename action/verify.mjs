// The GitHub Action (action.yml): install a pinned mcpg release for this runner, check its build
// provenance with `gh attestation verify`, run `mcpg guard verify --frozen --json`, and write a
// job summary. No dependencies: it runs on the runner's Node before anything is installed.
import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const fail = (message) => {
  process.stderr.write(`::error::${message}\n`);
  process.exit(1);
};
const version = process.env.INPUT_VERSION ?? '';
const repository = process.env.INPUT_REPOSITORY || 'mcpg-dev/mcpg';
const config = process.env.INPUT_CONFIG || 'mcpg.toml';
if (!/^v\d+\.\d+\.\d+/.test(version)) fail(`version must be a release tag such as v0.2.0 (got "${version}"): the action installs a pinned release`);

const os = { linux: 'linux', darwin: 'darwin', win32: 'windows' }[process.platform];
const arch = { x64: 'x64', arm64: 'arm64' }[process.arch];
if (!os || !arch) fail(`no mcpg release for ${process.platform}-${process.arch}`);
const asset = `mcpg-${os}-${arch}${os === 'windows' ? '.exe' : ''}`;
const server = process.env.GITHUB_SERVER_URL || 'https://github.com';
const url = `${server}/${repository}/releases/download/${version}/${asset}`;

const response = await fetch(url, { redirect: 'follow' });
if (!response.ok) fail(`cannot download ${url}: HTTP ${response.status}`);
const bin = join(process.env.RUNNER_TEMP || '.', asset);
writeFileSync(bin, Buffer.from(await response.arrayBuffer()));
chmodSync(bin, 0o755);

// The binary's build provenance, before it runs: signed by the release workflow of `repository`
// (not any workflow of it), built from the tag of this version (not a branch or another tag).
const attest = spawnSync(
  'gh',
  ['attestation', 'verify', bin, '--repo', repository, '--signer-workflow', `${repository}/.github/workflows/release.yml`, '--source-ref', `refs/tags/${version}`],
  { stdio: ['ignore', 'inherit', 'inherit'] },
);
if (attest.status !== 0) fail(`${asset} ${version} does not carry a valid build provenance attestation from ${repository}'s release workflow at refs/tags/${version}; not running it`);

const verify = spawnSync(bin, ['guard', 'verify', '--frozen', '--json', '--config', config], { encoding: 'utf8' });
process.stderr.write(verify.stderr);
let report;
try {
  report = JSON.parse(verify.stdout);
} catch {
  fail(`mcpg guard verify did not answer (exit ${verify.status}): ${verify.stderr.trim()}`);
}
const cell = (s) => String(s ?? '').replace(/\|/g, '\\|');
const rows = report.guards.map((g) => `| ${cell(g.guard)} | ${cell(g.source)} | \`${g.sha256.slice(0, 16)}…\` | ${g.verified} | ${cell(g.signer ? `${g.signer.repository ?? g.signer.identity}${g.signer.workflow ? ` (${g.signer.workflow})` : ''}` : '—')} |`);
const problems = report.problems.map((p) => `- **${cell(p.guard)}**: ${cell(p.problem)}`);
const summary = [
  `### mcpg ${version}: ${report.ok ? 'guards verified' : 'guards do not match'}`,
  '',
  '| guard | source | sha256 | verified by | signer |',
  '|---|---|---|---|---|',
  ...rows,
  ...(problems.length ? ['', ...problems] : []),
  '',
].join('\n');
if (process.env.GITHUB_STEP_SUMMARY) appendFileSync(process.env.GITHUB_STEP_SUMMARY, summary);
process.stdout.write(summary);
process.exit(verify.status ?? 1);
