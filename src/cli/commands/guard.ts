import { readFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { withGuard, writeAtomically } from '../../config/edit.ts';
import { loadConfig, parseConfig } from '../../config/load.ts';
import { limitsSchema } from '../../config/schema.ts';
import { loadIndex, lockedVersion, newest, parseName } from '../../registry/index.ts';
import { LABEL_EXPORTS, type LabelExport, abiProblems } from '../../guard/abi.ts';
import type { BackendCall } from '../../guard/guard.ts';
import { WasmGuard, compileGuard } from '../../guard/wasm-guard.ts';
import { inspect } from '../../guard/wasm-binary.ts';
import { EXIT, McpgError, errorMessage, fsReason } from '../../shared/errors.ts';
import { sha256 } from '../../supply/cache.ts';
import { exitWithCode } from '../exit.ts';
import { out } from '../output.ts';
import { type SupplyArgs, supplyFrom, withSupplyOptions } from '../supply-options.ts';

function readWasm(file: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new McpgError('GUARD_LOAD', `${file}: ${fsReason(err)}`);
  }
}

function json(what: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new McpgError('USAGE', `${what} is not JSON: ${errorMessage(err)}`);
  }
}

const sig = (t?: { params: string[]; results: string[] }) => (t ? `(${t.params.join(', ')}) -> (${t.results.join(', ')})` : '');

const inspectCommand: CommandModule<object, { file: string; json: boolean }> = {
  command: 'inspect <file>',
  describe: 'Show a guard module: exports, imports, ABI check, size, sha256',
  builder: (y) => y.positional('file', { type: 'string', demandOption: true }).option('json', { type: 'boolean', default: false }),
  handler: (args) => {
    const bytes = readWasm(args.file);
    let info;
    try {
      info = inspect(bytes);
    } catch (err) {
      throw new McpgError('GUARD_ABI', `${args.file}: ${errorMessage(err)}`);
    }
    const problems = abiProblems(info);
    const report = { file: args.file, size: bytes.length, sha256: sha256(bytes), abi: problems.length ? 'incompatible' : 'ok', problems, ...info };
    if (args.json) out(JSON.stringify(report, null, 2));
    else {
      out(
        [
          `${args.file}: ${bytes.length} bytes, sha256 ${report.sha256}`,
          `ABI: ${problems.length ? `incompatible\n  - ${problems.join('\n  - ')}` : 'ok (gh-aw-mcpg guard ABI)'}`,
          'exports:',
          ...info.exports.map((e) => `  ${e.name} ${e.kind} ${sig(e.type)}`),
          'imports:',
          ...info.imports.map((i) => `  ${i.module}.${i.name} ${i.kind} ${sig(i.type)}`),
          info.memory ? `memory: ${info.memory.min} pages initial${info.memory.max !== undefined ? `, ${info.memory.max} max` : ''}` : '',
        ]
          .filter(Boolean)
          .join('\n'),
      );
    }
    if (problems.length) throw new McpgError('GUARD_ABI', `${args.file} does not fit the guard ABI`);
  },
};

interface CallArgs {
  file: string;
  fn: LabelExport;
  input: string;
  policy: string;
  backend?: string;
}

const callCommand: CommandModule<object, CallArgs> = {
  command: 'call <file> <fn>',
  describe: 'Run one ABI call with canned backend answers and print the validated output',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true })
      .positional('fn', { choices: LABEL_EXPORTS, demandOption: true })
      .option('input', { type: 'string', default: '{}', describe: 'the JSON input of the call' })
      .option('policy', { type: 'string', default: '{}', describe: 'the policy label_agent is given first' })
      .option('backend', { type: 'string', describe: 'JSON file: { "tool": <MCP result> } answers for call_backend' })
      .example('$0 guard call g.wasm label_resource --input \'{"tool_name":"list_issues","tool_args":{}}\'', ''),
  handler: async (args) => {
    const answers = args.backend ? (json(args.backend, readFileSync(args.backend, 'utf8')) as Record<string, unknown>) : {};
    const backend: BackendCall = async (tool) => {
      if (!(tool in answers)) throw new Error(`no canned answer for "${tool}" in ${args.backend ?? '(no --backend file)'}`);
      return answers[tool];
    };
    const limits = limitsSchema.parse({});
    const guard = new WasmGuard(args.file, await compileGuard(args.file, readWasm(args.file), limits), limits);
    const agent = await guard.labelAgent(json('--policy', args.policy), backend);
    const input = json('--input', args.input) as { tool_name?: string; tool_args?: Record<string, unknown>; tool_result?: unknown };
    const result =
      args.fn === 'label_agent'
        ? agent
        : args.fn === 'label_resource'
          ? await guard.labelResource(input.tool_name ?? '', input.tool_args ?? {}, backend)
          : await guard.labelResponse(input.tool_name ?? '', input.tool_args ?? {}, input.tool_result ?? {}, backend);
    out(JSON.stringify(result, null, 2));
  },
};

const lockCommand: CommandModule<object, SupplyArgs & { names: string[]; update: boolean }> = {
  command: 'lock [names..]',
  describe: 'Resolve, download and verify guards; record them in guards.lock',
  builder: (y) =>
    withSupplyOptions(y)
      .positional('names', { type: 'string', array: true, default: [], describe: 'guards to lock (default: all)' })
      .option('update', { type: 'boolean', default: false, describe: 'move the pins of guards already locked' }),
  handler: async (args) => {
    const supply = supplyFrom(args);
    const { locked, warnings } = await supply.lockGuards(args.names, args.update);
    for (const w of warnings) process.stderr.write(`mcpg: warning: ${w}\n`);
    out(locked.length ? `${supply.lockFile}: locked ${locked.join(', ')}` : `${supply.lockFile}: up to date`);
  },
};

const addCommand: CommandModule<object, SupplyArgs & { spec: string; server: string; name?: string }> = {
  command: 'add <spec>',
  describe: 'Add a registry guard (NAME[@RANGE]) to a server: edits the config and the lock',
  builder: (y) =>
    withSupplyOptions(y)
      .positional('spec', { type: 'string', demandOption: true, describe: 'NAME or NAME@RANGE from the registry' })
      .option('server', { type: 'string', demandOption: true, describe: 'the server the guard labels' })
      .option('name', { type: 'string', describe: 'the guard\'s name in the config (default: the registry name)' })
      .example('$0 guard add repo-visibility@^1 --server github --config mcpg.toml', ''),
  handler: async (args) => {
    const { name } = parseName(args.spec);
    const guardName = args.name ?? name;
    // The name goes into the config's text: only a valid guard name may.
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(guardName)) {
      throw new McpgError('USAGE', `--name ${JSON.stringify(guardName)} is not a guard name (letters, digits, "-" and "_")`);
    }
    const config = loadConfig(args.config, process.env, 'guards');
    if (!config.servers.some((s) => s.name === args.server)) throw new McpgError('USAGE', `no server "${args.server}" in ${config.file}`);
    // A transaction: resolve, download, verify and lock first, against the edited config as it
    // would be read back; only then write the config (in one step), then the lock.
    const source = `registry:${args.spec.replace(/^registry:/, '')}`;
    const edited = withGuard(config.file, readFileSync(config.file, 'utf8'), guardName, source, args.server);
    const supply = supplyFrom(args, parseConfig(config.file, edited, process.env, 'guards'));
    const { warnings } = await supply.lockGuards([guardName], true, false);
    writeAtomically(config.file, edited);
    supply.saveLock();
    for (const w of warnings) process.stderr.write(`mcpg: warning: ${w}\n`);
    out(`${config.file}: server "${args.server}" now uses guard "${guardName}" (${args.spec}), locked in ${supply.lockFile}`);
  },
};

const verifyCommand: CommandModule<object, SupplyArgs & { json: boolean }> = {
  command: 'verify',
  describe: 'Check that config, guards.lock and the signed artifacts agree (for CI)',
  builder: (y) => withSupplyOptions(y).option('json', { type: 'boolean', default: false, describe: 'print the problems as JSON' }),
  handler: async (args) => {
    const supply = supplyFrom({ ...args, frozen: true });
    const problems = await supply.verify();
    // Per guard, how it was verified: CI can require a signature for every guard.
    if (args.json) out(JSON.stringify({ lock: supply.lockFile, ok: problems.length === 0, problems, guards: supply.report() }, null, 2));
    else if (problems.length) for (const p of problems) process.stderr.write(`mcpg: ${supply.lockFile}: guard "${p.guard}": ${p.problem}\n`);
    else out(`${supply.lockFile}: ${supply.guards().length} guards verified`);
    if (problems.length) exitWithCode(EXIT.supply);
  },
};

const outdatedCommand: CommandModule<object, SupplyArgs & { json: boolean }> = {
  command: 'outdated',
  describe: 'List registry guards with newer versions, in their range and beyond it',
  builder: (y) => withSupplyOptions(y).option('json', { type: 'boolean', default: false, describe: 'print the list as JSON' }),
  handler: async (args) => {
    const supply = supplyFrom(args);
    const index = await loadIndex(args.registry);
    const rows = supply.guards().flatMap((g) => {
      if (!('source' in g)) return [];
      const entry = supply.lock.guards[g.name];
      const locked = entry ? lockedVersion(index, entry.source, entry.sha256) : undefined;
      const { inRange, latest } = newest(index, supply.sourceOf(g));
      return [{ guard: g.name, source: supply.sourceOf(g), locked: locked?.version ?? null, yanked: locked?.yanked ?? null, in_range: inRange ?? null, latest: latest ?? null }];
    });
    if (args.json) return out(JSON.stringify(rows, null, 2));
    const stale = rows.filter((r) => r.locked !== r.in_range || r.locked !== r.latest || r.yanked);
    if (!stale.length) return out(`${rows.length} registry guards, all at the newest version in their range and overall`);
    out(
      stale
        .map((r) => {
          const notes = [r.yanked && `locked version yanked: ${r.yanked}`, r.locked !== r.in_range && 'run `mcpg guard lock --update ' + r.guard + '`', r.in_range !== r.latest && `${r.latest} is outside ${r.source}`];
          return `${r.guard}: locked ${r.locked ?? '(none)'}, newest in range ${r.in_range ?? '(none)'}, latest ${r.latest ?? '(none)'}${notes.some(Boolean) ? ` (${notes.filter(Boolean).join('; ')})` : ''}`;
        })
        .join('\n'),
    );
  },
};

export const guardCommand: CommandModule = {
  command: 'guard <command>',
  describe: 'Inspect, try and supply guards',
  builder: (y) =>
    y.command(inspectCommand).command(callCommand).command(lockCommand).command(verifyCommand).command(addCommand).command(outdatedCommand).demandCommand(1),
  handler: () => {},
};
