import type { CommandModule, Options } from 'yargs';
import { withGuard, writeAtomically } from '../../config/edit.ts';
import { MAX_CONFIG_BYTES, loadConfig, parseConfig } from '../../config/load.ts';
import { limitsSchema } from '../../config/schema.ts';
import { LABEL_EXPORTS, type LabelExport, abiProblems } from '../../guard/abi.ts';
import type { BackendCall } from '../../guard/guard.ts';
import type { WasmGuard } from '../../guard/wasm-guard.ts';
import { EXIT, McpgError, errorMessage } from '../../shared/errors.ts';
import { configureLog, linesLogged } from '../../shared/log.ts';
import { Cache, sha256 } from '../../supply/cache.ts';
import { MAX_GUARD_BYTES } from '../../supply/fetch.ts';
import { MAX_BUNDLE } from '../../supply/resolve.ts';
import { keepVerdict, thisRun } from '../../supply/verify-verdict.ts';
import { readNamedFile, witnessReads } from '../../shared/files.ts';
import { exitWithCode } from '../exit.ts';
import { note, out } from '../output.ts';
import { SUPPLY_OPTIONS, type SupplyArgs, supplyFrom, withSupplyOptions } from '../supply-options.ts';

// The guard host, the WebAssembly reader and the registry load in the handlers that use them:
// `guard verify` runs in CI at every push and needs none of them.
const guardHost = () => import('../../guard/wasm-guard.ts');
const registry = () => import('../../registry/index.ts');

/** A file named on the command line, read within `max` bytes (a guard by default). */
const readFile = (file: string, max = MAX_GUARD_BYTES) => readNamedFile(file, max, 'GUARD_LOAD');

/** The largest file of cases or backend answers `guard test` and `guard call` read. */
const MAX_TEST_FILE = 16 * 1024 * 1024;

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
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'the guard module (.wasm or .tar.gz package)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' }),
  handler: async (args) => {
    const { inspect } = await import('../../guard/wasm-binary.ts');
    const bytes = readFile(args.file);
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
  input?: string;
  policy: string;
  backend?: string;
  normalized: boolean;
}

/** call_backend answered from canned MCP results: `{ "tool": <result> }`. */
function cannedBackend(answers: Record<string, unknown>, where: string): BackendCall {
  return async (tool) => {
    if (!(tool in answers)) throw new Error(`no canned answer for "${tool}" in ${where}`);
    return answers[tool];
  };
}

async function loadGuard(file: string): Promise<WasmGuard> {
  const { WasmGuard, compileGuard } = await guardHost();
  const limits = limitsSchema.parse({});
  return new WasmGuard(file, await compileGuard(file, readFile(file), limits), limits);
}

const callCommand: CommandModule<object, CallArgs> = {
  command: 'call <file> <fn>',
  describe: "Run one ABI call with canned backend answers and print the guard's JSON answer",
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'the guard module (.wasm)' })
      .positional('fn', { choices: LABEL_EXPORTS, demandOption: true, describe: 'the export to call' })
      .option('input', { type: 'string', describe: 'the JSON input of the call (for label_agent: the policy)' })
      .option('policy', { type: 'string', default: '{}', describe: 'the policy label_agent hears before label_resource or label_response' })
      .option('backend', { type: 'string', describe: 'JSON file: { "tool": <MCP result> } answers for call_backend' })
      .option('normalized', { type: 'boolean', default: false, describe: "print mcpg's validated view instead of the guard's own JSON" })
      .example('$0 guard call g.wasm label_resource --input \'{"tool_name":"list_issues","tool_args":{}}\'', ''),
  handler: async (args) => {
    const answers = args.backend ? (json(args.backend, readFile(args.backend, MAX_TEST_FILE).toString('utf8')) as Record<string, unknown>) : {};
    const backend = cannedBackend(answers, args.backend ?? '(no --backend file)');
    const guard = await loadGuard(args.file);
    const agentInput = args.fn === 'label_agent' && args.input !== undefined;
    if (agentInput && args.policy !== '{}') throw new McpgError('USAGE', 'for label_agent, --input is the policy: give it once');
    const policy = json(agentInput ? '--input' : '--policy', agentInput ? args.input! : args.policy);
    const input = json('--input', args.input ?? '{}') as { tool_name?: string; tool_args?: Record<string, unknown>; tool_result?: unknown };
    let result: unknown;
    if (!args.normalized) {
      if (args.fn !== 'label_agent') await guard.labelAgent(policy, backend);
      result = await guard.answer(args.fn, args.fn === 'label_agent' ? policy : input, backend);
    } else {
      const agent = await guard.labelAgent(policy, backend);
      result =
        args.fn === 'label_agent'
          ? agent
          : args.fn === 'label_resource'
            ? await guard.labelResource(input.tool_name ?? '', input.tool_args ?? {}, backend)
            : await guard.labelResponse(input.tool_name ?? '', input.tool_args ?? {}, input.tool_result ?? {}, backend);
    }
    out(JSON.stringify(result, null, 2));
  },
};

/** One case of `mcpg guard test`: a call, and the guard's answer (or error) expected of it. */
interface TestCase {
  name: string;
  fn: LabelExport;
  input?: unknown;
  policy?: unknown;
  backend?: Record<string, unknown>;
  expect?: unknown;
  expect_error?: string;
}

const testCommand: CommandModule<object, { file: string; cases: string }> = {
  command: 'test <file> <cases>',
  describe: "Run a table of cases (JSON or TOML) against a guard in one process; a diff for each failure",
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'the guard module (.wasm)' })
      .positional('cases', { type: 'string', demandOption: true, describe: 'cases file: [[case]] with name, fn, input, policy, backend, expect or expect_error' })
      .example('$0 guard test guard.wasm cases.toml', 'exit 5 when any case fails'),
  handler: async (args) => {
    const text = readFile(args.cases, MAX_TEST_FILE).toString('utf8');
    let doc: { policy?: unknown; backend?: Record<string, unknown>; case?: TestCase[]; cases?: TestCase[] };
    try {
      doc = /\.toml$/i.test(args.cases) ? ((await import('smol-toml')).parse(text) as typeof doc) : (JSON.parse(text) as typeof doc);
    } catch (err) {
      throw new McpgError('USAGE', `${args.cases}: ${errorMessage(err)}`);
    }
    const cases = doc.case ?? doc.cases ?? [];
    if (!cases.length) throw new McpgError('USAGE', `${args.cases}: no cases ([[case]] in TOML, "cases" in JSON)`);
    const limits = limitsSchema.parse({});
    const { WasmGuard, compileGuard } = await guardHost();
    // One compiled module for all cases; each case gets its own guard (its own policy).
    const compiled = await compileGuard(args.file, readFile(args.file), limits);
    const lines: string[] = [];
    let failed = 0;
    // What the guard logs at warn and error is why it failed: part of the case's error, so
    // expect_error can match the guard's own message (a table, not a stream on stderr).
    let said: string[] = [];
    configureLog({ writer: (line) => said.push(line.replace(/^\S+ +(warn|error) +\[guard:[^\]]*\] /, '').trimEnd()), level: 'warn' });
    for (const [i, c] of cases.entries()) {
      said = [];
      const name = c.name ?? `case ${i + 1}`;
      const backend = cannedBackend({ ...doc.backend, ...c.backend }, `${args.cases} (${name})`);
      const guard = new WasmGuard(args.file, compiled, limits);
      const policy = c.policy ?? doc.policy ?? {};
      let actual: unknown;
      let error: string | undefined;
      try {
        if (!LABEL_EXPORTS.includes(c.fn)) throw new McpgError('USAGE', `fn must be one of ${LABEL_EXPORTS.join(', ')}`);
        if (c.fn !== 'label_agent') await guard.labelAgent(policy, backend);
        actual = await guard.answer(c.fn, c.fn === 'label_agent' ? (c.input ?? policy) : (c.input ?? {}), backend);
      } catch (err) {
        error = [errorMessage(err), ...said].join(': ');
      }
      const ok =
        c.expect_error !== undefined
          ? error !== undefined && new RegExp(c.expect_error).test(error)
          : error === undefined && canonicalJson(actual) === canonicalJson(c.expect ?? null);
      if (ok) {
        lines.push(`PASS  ${name}`);
        continue;
      }
      failed++;
      lines.push(`FAIL  ${name}`);
      if (c.expect_error !== undefined) lines.push(`      expected an error matching /${c.expect_error}/, got ${error ? `error: ${error}` : JSON.stringify(actual)}`);
      else if (error) lines.push(`      error: ${error}`);
      else lines.push(...jsonDiff(c.expect ?? null, actual).map((l) => `      ${l}`));
    }
    lines.push(`${cases.length - failed} passed, ${failed} failed`);
    out(lines.join('\n'));
    if (failed) exitWithCode(EXIT.guard);
  },
};

/** JSON with sorted keys, so a case compares answers, not key order. */
function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x), 2);
}

/** A line diff (longest common subsequence): "- expected", "+ actual", unchanged lines indented. */
function jsonDiff(expected: unknown, actual: unknown): string[] {
  const a = canonicalJson(expected).split('\n');
  const b = canonicalJson(actual).split('\n');
  if (a.length * b.length > 1_000_000) return [...a.map((l) => `- ${l}`), ...b.map((l) => `+ ${l}`)];
  // lcs[i][j]: the common subsequence length of a[i..] and b[j..].
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) for (let j = b.length - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push(`  ${a[i++]}`);
      j++;
    } else if (j < b.length && (i === a.length || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) out.push(`+ ${b[j++]}`);
    else out.push(`- ${a[i++]}`);
  }
  return out;
}

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
    for (const w of warnings) note(`mcpg: warning: ${w}`);
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
    const { name } = (await registry()).parseName(args.spec);
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
    const edited = withGuard(config.file, readFile(config.file, MAX_CONFIG_BYTES).toString('utf8'), guardName, source, args.server);
    const supply = supplyFrom(args, parseConfig(config.file, edited, process.env, 'guards'));
    const { warnings } = await supply.lockGuards([guardName], true, false);
    writeAtomically(config.file, edited);
    supply.saveLock();
    for (const w of warnings) note(`mcpg: warning: ${w}`);
    out(`${config.file}: server "${args.server}" now uses guard "${guardName}" (${args.spec}), locked in ${supply.lockFile}`);
  },
};

const pushCommand: CommandModule<object, { file: string; ref: string; bundle?: string; 'digest-only': boolean }> = {
  command: 'push <file> <ref>',
  describe: 'Push a guard module to an OCI registry as a wasm artifact, with its Sigstore bundle as a referrer',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'the guard module (.wasm)' })
      .positional('ref', { type: 'string', demandOption: true, describe: 'oci://REGISTRY/REPOSITORY:TAG' })
      .option('bundle', { type: 'string', describe: 'a Sigstore bundle for the pushed manifest digest, stored as its referrer' })
      .option('digest-only', { type: 'boolean', default: false, describe: 'print the manifest digest the module gets (to sign it first), push nothing' })
      .example('$0 guard push guard.wasm oci://ghcr.io/OWNER/NAME:1.0.0', 'prints ghcr.io/OWNER/NAME@sha256:…; registry credentials from ~/.docker/config.json, or GITHUB_TOKEN for ghcr.io'),
  handler: async (args) => {
    const { parseOciRef, formatRef } = await import('../../supply/oci-ref.ts');
    const { MEDIA, OciRegistry, bundleSubjects, guardManifest } = await import('../../supply/oci.ts');
    const wasm = readFile(args.file);
    if (!(wasm[0] === 0 && wasm[1] === 0x61 && wasm[2] === 0x73 && wasm[3] === 0x6d)) throw new McpgError('USAGE', `${args.file}: not a WebAssembly module`);
    let ref;
    try {
      ref = parseOciRef(args.ref);
    } catch (err) {
      throw new McpgError('USAGE', errorMessage(err));
    }
    const { digest, manifest } = guardManifest(wasm);
    const pinned = formatRef({ registry: ref.registry, repository: ref.repository, digest });
    if (args['digest-only']) return out(pinned);
    let bundle: Uint8Array | undefined;
    if (args.bundle) {
      bundle = readFile(args.bundle, MAX_BUNDLE);
      let subjects: string[];
      try {
        subjects = bundleSubjects(bundle);
      } catch (err) {
        throw new McpgError('USAGE', `${args.bundle}: not a Sigstore bundle (${errorMessage(err)})`);
      }
      if (!subjects.includes(digest.slice('sha256:'.length))) {
        throw new McpgError('USAGE', `${args.bundle} signs ${subjects.join(', ') || 'nothing'}, not this module's manifest ${digest} (\`mcpg guard push --digest-only\` prints it)`);
      }
    }
    const registry = new OciRegistry(ref.registry, { label: `push ${formatRef(ref)}` });
    await registry.pushGuard(ref, wasm);
    if (bundle) await registry.pushReferrer(ref.repository, bundle, { mediaType: MEDIA.manifest, digest, size: manifest.length });
    out(pinned);
    if (!bundle) note(`mcpg: the guard is unsigned in the registry until a Sigstore bundle for ${digest} refers to it (actions/attest-build-provenance with push-to-registry, or \`mcpg guard push --bundle\`)`);
  },
};

export const verifyCommand: CommandModule<object, SupplyArgs & { json: boolean }> = {
  command: 'verify',
  describe: 'Check that config, guards.lock and the signed artifacts agree (for CI)',
  // It never writes the lock: a --frozen flag would change nothing, so it is not offered. A
  // table, not a function: CI runs it at every push, and the CLI parses it without yargs.
  builder: {
    ...SUPPLY_OPTIONS,
    frozen: { ...SUPPLY_OPTIONS.frozen, hidden: true },
    json: { type: 'boolean', default: false, describe: 'print the problems and how each guard is vouched for, as JSON' },
  } satisfies Record<string, Options>,
  handler: async (args) => {
    // Offline, the run rests on files alone: when it passes quietly, its verdict is kept for the
    // next run with nothing changed (src/supply/verify-verdict.ts; src/sea.ts answers from it).
    const run = args.offline ? thisRun(process.argv.slice(2)) : undefined;
    const logged = linesLogged();
    const { value, reads } = await witnessReads(async () => {
      const supply = supplyFrom({ ...args, frozen: true });
      return { supply, problems: await supply.verify() };
    });
    const { supply, problems } = value;
    if (problems.length && !args.json) {
      for (const p of problems) note(`mcpg: ${supply.lockFile}: guard "${p.guard}": ${p.problem}`);
      exitWithCode(EXIT.supply);
    }
    // Per guard, how it was verified: CI can require a signature for every guard.
    const text = args.json
      ? JSON.stringify({ lock: supply.lockFile, ok: problems.length === 0, problems, guards: supply.report() }, null, 2)
      : `${supply.lockFile}: ${supply.guards().length} guards verified`;
    out(text);
    if (problems.length) exitWithCode(EXIT.supply);
    if (run && reads && linesLogged() === logged) keepVerdict(new Cache(), run, reads, text);
  },
};

const outdatedCommand: CommandModule<object, SupplyArgs & { json: boolean }> = {
  command: 'outdated',
  describe: 'List registry guards with newer versions, in their range and beyond it, and OCI guards whose tag has moved',
  builder: (y) => withSupplyOptions(y).option('json', { type: 'boolean', default: false, describe: 'print the list as JSON' }),
  handler: async (args) => {
    const supply = supplyFrom(args);
    const { loadIndex, lockedVersion, newest } = await registry();
    const index = await loadIndex(args.registry);
    const rows = supply.guards().flatMap((g) => {
      if (!('source' in g)) return [];
      const entry = supply.lock.guards[g.name];
      const locked = entry ? lockedVersion(index, entry.source, entry.sha256) : undefined;
      const { inRange, latest } = newest(index, supply.sourceOf(g));
      return [{ guard: g.name, source: supply.sourceOf(g), locked: locked?.version ?? null, yanked: locked?.yanked ?? null, in_range: inRange ?? null, latest: latest ?? null }];
    });
    const tags = [];
    for (const g of supply.guards()) {
      const tag = 'oci' in g ? await supply.ociTag(g) : undefined;
      if (tag) tags.push({ guard: g.name, source: supply.sourceOf(g), locked: tag.locked ?? null, tag_now: tag.now });
    }
    if (args.json) return out(JSON.stringify([...rows, ...tags], null, 2));
    const stale = rows.filter((r) => r.locked !== r.in_range || r.locked !== r.latest || r.yanked);
    const moved = tags.filter((t) => t.locked !== t.tag_now);
    if (!stale.length && !moved.length) {
      return out(`${rows.length} registry guards, all at the newest version in their range and overall${tags.length ? `; ${tags.length} OCI tags unchanged since locked` : ''}`);
    }
    out(
      [
        ...moved.map((t) => `${t.guard}: ${t.source} now points to ${t.tag_now}, locked ${t.locked ?? '(none)'} (run \`mcpg guard lock --update ${t.guard}\`)`),
        ...stale.map((r) => {
          const notes = [r.yanked && `locked version yanked: ${r.yanked}`, r.locked !== r.in_range && 'run `mcpg guard lock --update ' + r.guard + '`', r.in_range !== r.latest && `${r.latest} is outside ${r.source}`];
          return `${r.guard}: locked ${r.locked ?? '(none)'}, newest in range ${r.in_range ?? '(none)'}, latest ${r.latest ?? '(none)'}${notes.some(Boolean) ? ` (${notes.filter(Boolean).join('; ')})` : ''}`;
        }),
      ].join('\n'),
    );
  },
};

export const guardCommand: CommandModule = {
  command: 'guard <command>',
  describe: 'Inspect, try and supply guards',
  builder: (y) =>
    y.command(inspectCommand).command(callCommand).command(testCommand).command(lockCommand).command(verifyCommand).command(addCommand).command(outdatedCommand).command(pushCommand).demandCommand(1),
  handler: () => {},
};
