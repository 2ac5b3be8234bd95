// The whole test suite, as the README and .ci/run run it: type-check, lint, the tests against
// the source build (dist/mcpg.cjs), then the single executable built and the end-to-end tests
// run again against it (MCPG_BIN). Ends with one plain line "N passed, N failed", counted from
// vitest's JSON reports.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';

const bin = (name) => `node_modules/.bin/${name}`;
const step = (name, cmd, args, env = {}) => {
  console.log(`\n== ${name}`);
  return spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } }).status ?? 1;
};

let passed = 0;
let failed = 0;
const count = (report, status) => {
  try {
    const r = JSON.parse(readFileSync(report, 'utf8'));
    passed += r.numPassedTests;
    // A file that fails to load counts once, as its tests never ran.
    failed += r.numFailedTests + (r.numFailedTests ? 0 : r.numFailedTestSuites);
    if (r.numTotalTests === 0 || (status !== 0 && r.numFailedTests === 0 && r.numFailedTestSuites === 0)) failed += 1;
  } catch {
    failed += 1;
  }
};
const vitest = (name, report, files, env) => {
  rmSync(report, { force: true });
  const status = step(name, bin('vitest'), ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...files], env);
  count(report, status);
};

failed += step('type-check (tsc --noEmit, strict)', bin('tsc'), ['--noEmit', '-p', '.']) ? 1 : 0;
failed += step('lint (eslint)', bin('eslint'), ['.']) ? 1 : 0;
mkdirSync('.cache', { recursive: true });
vitest('tests against the source build', '.cache/vitest-source.json', [], {});
if (step('single executable (npm run build:binary)', process.execPath, ['scripts/build-binary.mjs'])) failed += 1;
else {
  // The executable's own concerns (bundling, embedded assets, node:wasi, fetch, workers): one
  // end-to-end file per feature; the logic behind them is the source pass's.
  vitest('end-to-end tests against dist/mcpg', '.cache/vitest-binary.json', ['test/binary', 'test/cli', 'test/auth', 'test/docs', 'test/proxy/gateway.test.ts', 'test/http/ghaw.test.ts', 'test/supply/remote.test.ts', 'test/registry/repo-visibility.test.ts', 'test/registry/ghaw-like.test.ts'], {
    MCPG_BIN: 'dist/mcpg',
  });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
