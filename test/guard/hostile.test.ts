import { describe, expect, it } from 'vitest';
import { type Session, fixtureServer, mcpg, mcpgRun, readAudit, startGateway, tempDir, writeConfig } from '../helpers/mcpg.ts';
import { AGENT_BODY, guardWat, watToFile } from '../fixtures/guards/wat.ts';

/** A gateway with the hostile guard on server "bad" and no guard on server "good". */
async function withGuard(labelResource: string, limits: object = {}, extra = ''): Promise<Session & { audit: string }> {
  const dir = tempDir();
  const wasm = watToFile(dir, 'hostile', guardWat(labelResource, extra));
  const audit = `${dir}/audit.jsonl`;
  const config = writeConfig(dir, {
    mcpServers: { bad: { ...fixtureServer('tools.ts', 'bad'), guard: 'hostile' }, good: fixtureServer('tools.ts', 'good') },
    guards: { hostile: { path: wasm, limits: { fuel: 2_000_000, ...limits } } },
  });
  return Object.assign(await startGateway(config, ['--audit-log', audit]), { audit });
}

async function expectRefusedAndServing(gw: Session, pattern: RegExp): Promise<string> {
  const r = await gw.call('bad___echo', { text: 'x' });
  expect(r.isError).toBe(true);
  expect(r.text).toMatch(/guard "hostile"/);
  expect(r.text).toMatch(pattern);
  expect(r.text).not.toContain('bad: x');
  expect((await gw.call('good___echo', { text: 'y' })).text).toBe('good: y');
  return r.text;
}

// Through `mcpg run`; every limit is also tested in process (pool.test.ts).
describe('hostile guards: each limit holds, the agent gets a clear error, other servers keep serving', () => {
  it('an infinite loop runs out of fuel; the guard still serves the next call', async () => {
    // Spins on short inputs (the call with text "x"), answers longer ones.
    const gw = await withGuard(`(if (i32.lt_u (local.get $inLen) (i32.const 50)) (then (loop $spin (br $spin))))
      (call $answer (local.get $out) (local.get $size))`);
    try {
      await expectRefusedAndServing(gw, /ran out of fuel \(CPU limit/);
      // A fresh instance replaces the one that hit the limit: the second call passes.
      expect((await gw.call('bad___echo', { text: 'again, longer' })).text).toBe('bad: again, longer');
    } finally {
      await gw.close();
    }
  });

  it('a trap costs only its call: the next call gets a fresh instance, and the audit says why', async () => {
    const gw = await withGuard(`(if (i32.lt_u (local.get $inLen) (i32.const 50)) (then unreachable))
      (call $answer (local.get $out) (local.get $size))`);
    try {
      const text = await expectRefusedAndServing(gw, /label_resource trapped: unreachable/);
      expect(text).not.toMatch(/failed until/);
      expect((await gw.call('bad___echo', { text: 'again, and long enough' })).text).toBe('bad: again, and long enough');
      await expectRefusedAndServing(gw, /label_resource trapped: unreachable/);
      const lines = readAudit(gw.audit).filter((l) => l.server === 'bad');
      expect(lines.map((l) => [l.stage, l.decision])).toEqual([
        ['request', 'error'],
        ['request', 'allow'],
        ['response', 'allow'],
        ['request', 'error'],
      ]);
      expect(lines[0]!.reason).toBe('guard "hostile" label_resource trapped: unreachable');
    } finally {
      await gw.close();
    }
  });
});

describe('modules that do not fit the ABI are refused at start', () => {
  it('a wrong export signature: exit 5 with the export and both signatures', async () => {
    const dir = tempDir();
    const wat = guardWat('(call $answer (local.get $out) (local.get $size))').replace(
      '(func (export "label_response") (param i32 i32 i32 i32) (result i32) (i32.const 0))',
      '(func (export "label_response") (param i32) (result i32) (i32.const 0))',
    );
    const config = writeConfig(dir, {
      mcpServers: { s: { ...fixtureServer('tools.ts'), guard: 'g' } },
      guards: { g: { path: watToFile(dir, 'g', wat) } },
    });
    const r = await mcpgRun(config);
    expect(r.code).toBe(5);
    expect(r.stderr.trim().split('\n').pop()).toBe(
      'mcpg: guard "g" does not fit the guard ABI: export label_response must be a function (i32, i32, i32, i32) -> (i32), found (i32) -> (i32)',
    );
  });

  it('a command module (only _start) is told to build a reactor', () => {
    const dir = tempDir();
    const file = watToFile(dir, 'cmd', '(module (memory (export "memory") 1) (func (export "_start")))');
    const r = mcpg(['guard', 'inspect', file]);
    expect(r.code).toBe(5);
    expect(r.stdout).toMatch(/built as a command \(exports _start\): build a reactor\/library instead/);
  });

  it('an import the host does not provide is named', () => {
    const dir = tempDir();
    const wat = guardWat('(call $answer (local.get $out) (local.get $size))').replace(
      '(memory',
      '(import "env" "open_socket" (func (param i32) (result i32)))\n  (memory',
    );
    const r = mcpg(['guard', 'inspect', watToFile(dir, 'sock', wat)]);
    expect(r.code).toBe(5);
    expect(r.stdout).toContain('it imports env.open_socket, which mcpg does not provide');
  });
});

describe('label_agent runs after start-up: the lists do not wait for it, calls do', () => {
  /** A guard whose label_agent first calls its backend's "slow" tool with these arguments. */
  function waitingGuard(dir: string, slow: object): string {
    const args = JSON.stringify(slow);
    const agent = `(drop (call $call_backend (i32.const 3200) (i32.const 4) (i32.const 3300) (i32.const ${args.length}) (i32.const 4096) (i32.const 1024)))
    ${AGENT_BODY}`;
    const extra = `(data (i32.const 3200) "slow") (data (i32.const 3300) ${JSON.stringify(args)})`;
    return watToFile(dir, 'g', guardWat('(call $answer (local.get $out) (local.get $size))', extra, agent));
  }
  const gateway = (slow: object) => {
    const dir = tempDir();
    return startGateway(
      writeConfig(dir, {
        mcpServers: { bad: { ...fixtureServer('tools.ts', 'bad'), guard: 'g' } },
        guards: { g: { path: waitingGuard(dir, slow), limits: { timeout_ms: 120_000 } } },
      }),
    );
  };

  it('initialize and tools/list are answered while label_agent still waits (here on a 60 s backend call)', async () => {
    const gw = await gateway({ steps: 120, ms: 500 });
    try {
      expect((await gw.client.listTools()).tools.map((t) => t.name)).toContain('bad___echo');
      expect(gw.stderr()).not.toMatch(/agent labels/);
    } finally {
      await gw.close();
    }
  });

  it('a call waits for the labels: it reaches the server after label_agent is done', async () => {
    const gw = await gateway({ steps: 1, ms: 700 });
    try {
      // slow_state says what label_agent's "slow" call was doing when the call reached the server.
      expect((await gw.call('bad___slow_state')).text).toBe('done');
    } finally {
      await gw.close();
    }
  });

  it('a guard whose label_agent traps ends the session after the lists: exit 5 naming it, no call served', async () => {
    const dir = tempDir();
    const config = writeConfig(dir, {
      mcpServers: { bad: { ...fixtureServer('tools.ts', 'bad'), guard: 'g' } },
      guards: { g: { path: watToFile(dir, 'g', guardWat('(call $answer (local.get $out) (local.get $size))', '', 'unreachable')) } },
    });
    const r = await mcpgRun(config);
    expect(r.code).toBe(5);
    expect(JSON.parse(r.stdout.split('\n')[0]!)).toMatchObject({ result: { serverInfo: { name: 'mcpg' } } });
    expect(r.stderr.trim().split('\n').pop()).toBe('mcpg: guard "g" failed in label_agent for server "bad": guard "g" label_agent trapped: unreachable');
  });
});
