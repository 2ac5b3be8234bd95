import { extname } from 'node:path';
import { McpgError, fsReason } from '../shared/errors.ts';
import { replaceFile } from '../shared/files.ts';

/**
 * The config text with `[guards.NAME]` set to `source` and `[servers.SERVER]` pointed at it,
 * the rest of the file as it was: TOML is edited as text so comments and layout survive; JSON
 * keeps its indentation. Nothing is written: the caller checks the result first.
 */
export function withGuard(file: string, text: string, guard: string, source: string, server: string): string {
  return extname(file).toLowerCase() === '.json' ? editJson(text, guard, source, server) : editToml(file, text, guard, source, server);
}

/** Replaces the file in one step (a crash leaves the old file or the new one, never half). */
export function writeAtomically(file: string, text: string): void {
  try {
    replaceFile(file, text);
  } catch (err) {
    throw new McpgError('FILE_ACCESS', `${file}: cannot write: ${fsReason(err)}`);
  }
}

function editJson(text: string, guard: string, source: string, server: string): string {
  const indent = /\n([ \t]+)"/.exec(text)?.[1] ?? '  ';
  // The file was loaded (and so checked) before it is edited; a byte-order mark is kept as it was.
  const bom = text.startsWith('\ufeff') ? '\ufeff' : '';
  const cfg = JSON.parse(text.slice(bom.length)) as Record<string, Record<string, Record<string, unknown>>>;
  const servers = cfg.mcpServers ?? cfg.servers;
  if (!servers?.[server]) throw new McpgError('CONFIG_INVALID', `no server "${server}" in the config`);
  servers[server]!.guard = guard;
  cfg.guards = { ...cfg.guards, [guard]: { ...cfg.guards?.[guard], source } };
  return `${bom}${JSON.stringify(cfg, null, indent)}\n`;
}

const header = (line: string) => /^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$/.exec(line)?.[1]?.replace(/\s+/g, '');

function editToml(file: string, text: string, guard: string, source: string, server: string): string {
  const lines = text.split('\n');
  const tableOf = (name: string) => lines.findIndex((l) => header(l) === name || header(l) === `${name.split('.')[0]}."${name.split('.')[1]}"`);
  const endOf = (start: number) => {
    let end = lines.findIndex((l, i) => i > start && header(l) !== undefined);
    if (end < 0) end = lines.length;
    while (end > start + 1 && lines[end - 1]!.trim() === '') end--;
    return end;
  };
  const s = tableOf(`servers.${server}`);
  if (s < 0) throw new McpgError('CONFIG_INVALID', `${file}: no [servers.${server}] table (a server written inline must be edited by hand)`);
  const sEnd = endOf(s);
  const existing = lines.findIndex((l, i) => i > s && i < sEnd && /^\s*guard\s*=/.test(l));
  const guardLine = `guard = ${JSON.stringify(guard)}`;
  if (existing >= 0) lines[existing] = guardLine;
  else lines.splice(sEnd, 0, guardLine);

  const g = tableOf(`guards.${guard}`);
  const sourceLine = `source = ${JSON.stringify(source)}`;
  if (g >= 0) {
    const gEnd = endOf(g);
    const keys = lines.slice(g + 1, gEnd);
    if (keys.some((l) => /^\s*(path|url|builtin)\s*=/.test(l))) {
      throw new McpgError('CONFIG_INVALID', `${file}: [guards.${guard}] already has another source; remove it or pick another name`);
    }
    const at = keys.findIndex((l) => /^\s*source\s*=/.test(l));
    if (at >= 0) lines[g + 1 + at] = sourceLine;
    else lines.splice(g + 1, 0, sourceLine);
  } else {
    while (lines.length && lines[lines.length - 1]!.trim() === '') lines.pop();
    lines.push('', `[guards.${guard}]`, sourceLine, '');
  }
  return lines.join('\n');
}
