/** Results of commands go to stdout through here; `mcpg run` never uses it (stdout is MCP there). */
export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}
