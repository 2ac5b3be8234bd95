// Build-time only (scripts/build-binary.mjs): V8's code cache for the bundle, made after the
// bundle ran what users start most, so the functions those commands compile lazily are in it
// too (a cache made right after compiling holds little more than the top level). Measured on
// `guard verify` of 10 signed guards: 65 -> 51 ms. Nothing here is part of mcpg itself.
//
// node [execArgv] train-code-cache.mjs <wrapped bundle> <cache out> <workloads JSON>
// Each workload is { argv, input? }: every one but the last runs with process.exit caught (the
// next starts when it would have exited or had nothing left to do); the last exits for real, and the cache is written then.
// `input` is JSON-RPC lines for stdin, which ends once every request in it has its answer.
// A workload that fails still trains what it ran; only the cache's existence is checked.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { PassThrough } from 'node:stream';
import { Script } from 'node:vm';

const [source, out, json] = process.argv.slice(2);
const script = new Script(readFileSync(source, 'latin1'), { filename: 'mcpg.cjs' });
const bundle = script.runInThisContext();
const workloads = JSON.parse(json);
const exit = process.exit;
process.on('exit', () => writeFileSync(out, script.createCachedData()));

for (const [i, { argv, input = '' }] of workloads.entries()) {
  const last = i === workloads.length - 1;
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  let answers = input.split('\n').filter((line) => line.includes('"id"')).length;
  stdout.on('data', (chunk) => {
    answers -= chunk.toString().split('\n').length - 1;
    if (answers <= 0) stdin.end();
  });
  stdin.write(input);
  if (!answers) stdin.end();
  Object.defineProperty(process, 'stdin', { configurable: true, value: stdin });
  Object.defineProperty(process, 'stdout', { configurable: true, value: stdout });
  process.argv = [process.argv[0], 'mcpg', ...argv];
  await new Promise((resolve) => {
    process.exit = last ? exit : () => resolve();
    // A command that ends by running out of work, not by exit.
    if (!last) process.once('beforeExit', () => resolve());
    // CommonJS's five arguments, as src/sea.ts gives them.
    const module = { exports: {} };
    bundle(module.exports, createRequire(source), module, source, dirname(source));
  });
}
