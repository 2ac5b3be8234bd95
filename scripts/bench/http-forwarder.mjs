// The floor under `mcpg serve` on this machine: a bare Node HTTP forwarder in front of the same
// backend, with no MCP in it (no sessions, no agents, no checks): what any gateway written on
// Node's HTTP server and undici pays before it does anything. Prints its URL on stdout.
import { createServer } from 'node:http';
import { Pool } from 'undici';

const target = new URL(process.argv[2]);
const pool = new Pool(target.origin, { keepAliveTimeout: 60_000 });
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    // Parsed and written again, as a gateway that reads what it passes must.
    const body = JSON.stringify(JSON.parse(Buffer.concat(chunks).toString()));
    const r = await pool.request({ path: target.pathname, method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body });
    const out = JSON.stringify(JSON.parse(await r.body.text()));
    res.writeHead(r.statusCode, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) }).end(out);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`http://127.0.0.1:${server.address().port}${target.pathname}\n`));
