// The whole test suite, as the README and .ci/run run it: type-check, lint, then vitest.
// Ends with one plain line "N passed, N failed" taken from vitest's JSON report.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';

const bin = (name) => `node_modules/.bin/${name}`;
const step = (name, cmd, args) => {
  console.log(`\n== ${name}`);
  return spawnSync(cmd, args, { stdio: 'inherit' }).status ?? 1;
};

let failedSteps = 0;
failedSteps += step('type-check (tsc --noEmit, strict)', bin('tsc'), ['--noEmit', '-p', '.']) ? 1 : 0;
failedSteps += step('lint (eslint)', bin('eslint'), ['.']) ? 1 : 0;

mkdirSync('.cache', { recursive: true });
const report = '.cache/vitest-report.json';
rmSync(report, { force: true });
const vitest = step('tests (vitest)', bin('vitest'), [
  'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2),
]);

let passed = 0;
let failed = failedSteps;
try {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  passed += r.numPassedTests;
  // A file that fails to load counts once, as its tests never ran.
  failed += r.numFailedTests + (r.numFailedTests ? 0 : r.numFailedTestSuites);
  if (r.numTotalTests === 0) failed += 1;
} catch {
  failed += 1;
}
if (vitest !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
