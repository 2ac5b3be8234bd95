import { describe, expect, it } from 'vitest';
import yargs, { type Options } from 'yargs';
import { verifyCommand } from '../../src/cli/commands/guard.ts';
import { runCommand } from '../../src/cli/commands/run.ts';
import { quickArgs } from '../../src/cli/quick-args.ts';

/** yargs' reading of the same line, on the same table: what the quick parse must agree with. */
function yargsArgs(argv: string[], table: Record<string, Options>): Record<string, unknown> | Error {
  try {
    const parsed = yargs(argv).options(table).strict().exitProcess(false).fail((msg, err) => {
      throw err ?? new Error(msg);
    }).help(false).version(false).parseSync();
    return Object.fromEntries(Object.keys(table).filter((k) => parsed[k] !== undefined).map((k) => [k, parsed[k]]));
  } catch (err) {
    return err as Error;
  }
}

describe('the quick parse of `run` and `guard verify`', () => {
  const tables = { run: runCommand.builder, verify: verifyCommand.builder } as Record<string, Record<string, Options>>;
  const plain = [
    [],
    ['--config', 'a.toml'],
    ['-c', 'a.json', '--log-level', 'debug'],
    ['--config=x.toml', '--frozen', '--offline', '--trusted-root', 'r.json'],
    ['--no-frozen', '--registry', 'https://example.com/index.json', '--lock', ''],
    ['--mode', 'filter', '--audit-log', '/tmp/a', '--log-file', 'f'],
  ];
  it('reads plain lines as yargs does', () => {
    for (const [name, table] of Object.entries(tables)) {
      for (const argv of plain) {
        if (name === 'verify' && argv.some((a) => /mode|audit|log-/.test(a))) continue;
        const quick = quickArgs(argv, table);
        expect(quick, `${name} ${argv.join(' ')}`).toBeDefined();
        expect(quick, `${name} ${argv.join(' ')}`).toEqual(yargsArgs(argv, table));
      }
    }
  });

  it('leaves to yargs what yargs must explain or reads otherwise', () => {
    const table = tables.run!;
    for (const argv of [
      ['--help'],
      ['-h'],
      ['--bogus'],
      ['extra'],
      ['--mode', 'loose'],
      ['--config', 'a', '--config', 'b'],
      ['--frozen', 'false'],
      ['--logLevel', 'debug'],
      ['--config'],
      ['--', 'x'],
    ]) {
      expect(quickArgs(argv, table), argv.join(' ')).toBeUndefined();
    }
  });
});
