import type { FuncType, ModuleInfo } from './wasm-binary.ts';

/**
 * The guard ABI of gh-aw-mcpg, so guards built for it run here unchanged.
 * Each label export: (input_ptr, input_len, output_ptr, output_size) -> i32, where the result is
 * the byte count written (> 0), 0 for "nothing", -2 for "output buffer too small" (the needed
 * size as a little-endian u32 at output_ptr when output_size >= 4), any other negative an error.
 */
export const LABEL_EXPORTS = ['label_agent', 'label_resource', 'label_response'] as const;
export type LabelExport = (typeof LABEL_EXPORTS)[number];

export const RC_NOTHING = 0;
export const RC_TOO_SMALL = -2;
export const RC_ERROR = -1;

const i32 = 'i32' as const;
const EXPECTED_EXPORTS: Record<string, FuncType> = {
  label_agent: { params: [i32, i32, i32, i32], results: [i32] },
  label_resource: { params: [i32, i32, i32, i32], results: [i32] },
  label_response: { params: [i32, i32, i32, i32], results: [i32] },
};
const OPTIONAL_EXPORTS: Record<string, FuncType> = {
  alloc: { params: [i32], results: [i32] },
  dealloc: { params: [i32, i32], results: [] },
  _initialize: { params: [], results: [] },
};
/** Host functions in module `env`. `abort` is AssemblyScript's, a trap with a message. */
export const ENV_IMPORTS: Record<string, FuncType> = {
  call_backend: { params: [i32, i32, i32, i32, i32, i32], results: [i32] },
  host_log: { params: [i32, i32, i32], results: [] },
  abort: { params: [i32, i32, i32, i32], results: [] },
};
export const WASI_MODULE = 'wasi_snapshot_preview1';

const sig = (t: FuncType) => `(${t.params.join(', ')}) -> (${t.results.join(', ')})`;
const same = (a: FuncType, b: FuncType) => sig(a) === sig(b);

/** Every reason the module does not fit the ABI, in words a guard author can act on. */
export function abiProblems(info: ModuleInfo): string[] {
  const problems: string[] = [];
  const exported = new Map(info.exports.map((e) => [e.name, e]));
  const missing = Object.keys(EXPECTED_EXPORTS).filter((n) => !exported.has(n));
  if (missing.length && exported.has('_start')) {
    problems.push(
      'it was built as a command (exports _start): build a reactor/library instead ' +
        '(Go: -buildmode=c-shared with //go:wasmexport; AssemblyScript: the mcpg SDK; Rust: crate-type = ["cdylib"])',
    );
  }
  for (const name of missing) problems.push(`it does not export ${name}`);
  for (const [name, type] of Object.entries({ ...EXPECTED_EXPORTS, ...OPTIONAL_EXPORTS })) {
    const e = exported.get(name);
    if (e && (e.kind !== 'func' || !e.type || !same(e.type, type))) {
      problems.push(`export ${name} must be a function ${sig(type)}, found ${e.type ? sig(e.type) : e.kind}`);
    }
  }
  if (exported.has('alloc') !== exported.has('dealloc')) problems.push('it exports only one of alloc and dealloc: export both or neither');
  if (exported.get('memory')?.kind !== 'memory') problems.push('it does not export its memory as "memory"');
  for (const i of info.imports) {
    if (i.module === WASI_MODULE && i.kind === 'func') continue;
    const expected = i.module === 'env' ? ENV_IMPORTS[i.name] : undefined;
    if (!expected || i.kind !== 'func') problems.push(`it imports ${i.module}.${i.name}, which mcpg does not provide`);
    else if (i.type && !same(i.type, expected)) problems.push(`import env.${i.name} must be ${sig(expected)}, found ${sig(i.type)}`);
  }
  return problems;
}
