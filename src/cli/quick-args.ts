import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import type { Options } from 'yargs';

/**
 * A command's arguments parsed from its option table without yargs, whose start-up (its help
 * layout is computed on every run) costs more than the rest of `mcpg run` before serving.
 * Only what is plainly valid is taken: help, an unknown or repeated option, a value outside its
 * choices or a positional returns undefined, and yargs parses the line and explains it.
 */
export function quickArgs(argv: string[], table: Record<string, Options>): Record<string, unknown> | undefined {
  const options: ParseArgsOptionsConfig = {};
  for (const [name, o] of Object.entries(table)) {
    if (o.type !== 'string' && o.type !== 'boolean') return undefined;
    if (o.alias !== undefined && !(typeof o.alias === 'string' && o.alias.length === 1)) return undefined;
    options[name] = { type: o.type, ...(o.alias && { short: o.alias }), ...(o.default !== undefined && { default: o.default as string | boolean }) };
  }
  const parse = () => parseArgs({ args: argv, options, strict: true, allowPositionals: false, allowNegative: true, tokens: true });
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse();
  } catch {
    return undefined;
  }
  const given = parsed.tokens.filter((t) => t.kind === 'option').map((t) => t.name);
  if (new Set(given).size !== given.length) return undefined;
  for (const [name, o] of Object.entries(table)) {
    const value = parsed.values[name];
    if (o.choices && value !== undefined && !(o.choices as unknown[]).includes(value)) return undefined;
  }
  return parsed.values;
}
