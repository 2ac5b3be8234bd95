// The floor under `mcpg run` on this machine: a bare Node forwarder of newline-delimited JSON-RPC
// between its stdio and a child server's, with no MCP in it (no sessions, no checks), each
// message parsed and written again as a gateway that reads what it passes must.
// Usage: node stdio-forwarder.mjs COMMAND [ARGS...]
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const child = spawn(process.argv[2], process.argv.slice(3), { stdio: ['pipe', 'pipe', 'inherit'] });
createInterface({ input: process.stdin }).on('line', (line) => child.stdin.write(`${JSON.stringify(JSON.parse(line))}\n`));
createInterface({ input: child.stdout }).on('line', (line) => process.stdout.write(`${JSON.stringify(JSON.parse(line))}\n`));
process.stdin.on('end', () => child.kill());
