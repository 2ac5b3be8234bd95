import { describe, expect, it } from 'vitest';
import { type Session, fixtureServer, mcpg, readAudit, startGateway, tempDir, writeConfig } from '../helpers/mcpg.ts';
import { guardWat, watToFile } from '../fixtures/guards/wat.ts';

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

  it('memory cannot grow past the cap', async () => {
    // Tries to grow by 64 MiB: it must fail (cap 32 MiB), and the guard then traps.
    const gw = await withGuard(`(if (i32.eq (memory.grow (i32.const 1024)) (i32.const -1)) (then unreachable))
      (call $answer (local.get $out) (local.get $size))`);
    try {
      await expectRefusedAndServing(gw, /trapped: unreachable/);
    } finally {
      await gw.close();
    }
  });

  it('an answer larger than the output cap is refused', async () => {
    const gw = await withGuard(`(i32.store (local.get $out) (i32.const 104857600)) (i32.const -2)`);
    try {
      await expectRefusedAndServing(gw, /needs a 104857600-byte output buffer, over the 16 MiB output cap/);
    } finally {
      await gw.close();
    }
  });

  it('a trap fails the guard until restart: later calls are refused without running it', async () => {
    const gw = await withGuard('unreachable');
    try {
      await expectRefusedAndServing(gw, /trapped: unreachable; it is now failed until the gateway restarts/);
      await expectRefusedAndServing(gw, /is failed \(label_resource trapped: unreachable\); restart the gateway/);
    } finally {
      await gw.close();
    }
  });

  it('the -2 retry path: a guard that asks for a bigger buffer gets one and is answered', async () => {
    // Demands 70,000 bytes (over the first 64 KiB buffer) until it is given at least that.
    const gw = await withGuard(`(if (i32.lt_u (local.get $size) (i32.const 70000))
        (then (i32.store (local.get $out) (i32.const 70000)) (return (i32.const -2))))
      (call $answer (local.get $out) (local.get $size))`);
    try {
      expect((await gw.call('bad___echo', { text: 'grown' })).text).toBe('bad: grown');
    } finally {
      await gw.close();
    }
  });

  it('invalid JSON from the guard fails closed and names the guard and function', async () => {
    const gw = await withGuard(`(i32.store (local.get $out) (i32.const 0x6e6f6e7b)) (i32.const 4)`);
    try {
      await expectRefusedAndServing(gw, /label_resource answered malformed labels: not valid JSON/);
    } finally {
      await gw.close();
    }
  });

  it('labels of the wrong type or an unknown operation fail closed, naming the field', async () => {
    const bad = '{"resource":{"secrecy":"private","integrity":[]},"operation":"read"}';
    const gw = await withGuard(
      `(call $write (i32.const 5000) (i32.const ${bad.length}) (local.get $out) (local.get $size))`,
      {},
      `(data (i32.const 5000) ${JSON.stringify(bad)})`,
    );
    try {
      await expectRefusedAndServing(gw, /field resource\.secrecy: Invalid input: expected array/);
    } finally {
      await gw.close();
    }
  });

  it('a call_backend flood is cut off at the limit, and the audit log records the calls', async () => {
    const gw = await withGuard(
      `(loop $flood (drop (call $call_backend (i32.const 3072) (i32.const 4) (i32.const 3100) (i32.const 2) (i32.const 8192) (i32.const 4096))) (br $flood))
      (i32.const 0)`,
      { backend_calls: 5 },
    );
    try {
      await expectRefusedAndServing(gw, /made more than 5 call_backend calls in one invocation/);
      const line = readAudit(gw.audit).find((l) => l.server === 'bad');
      expect(line?.decision).toBe('error');
      expect(line?.backend_calls).toHaveLength(5);
    } finally {
      await gw.close();
    }
  });

  it('limits.backend_tools refuses tools outside the list (call_backend answers -1)', async () => {
    const gw = await withGuard(
      `(if (i32.ne (call $call_backend (i32.const 3072) (i32.const 4) (i32.const 3100) (i32.const 2) (i32.const 8192) (i32.const 4096)) (i32.const -1))
        (then unreachable))
      (call $answer (local.get $out) (local.get $size))`,
      { backend_tools: ['whoami'] },
    );
    try {
      expect((await gw.call('bad___echo', { text: 'z' })).text).toBe('bad: z');
    } finally {
      await gw.close();
    }
  });
});

describe('CPU is guest work only', () => {
  it('time spent waiting in call_backend costs no fuel', async () => {
    // 300 ms waiting on the backend's slow tool, with fuel for a few dozen steps: the call passes.
    const args = '{"steps":3,"ms":100}';
    const gw = await withGuard(
      `(if (i32.lt_s (call $call_backend (i32.const 6000) (i32.const 4) (i32.const 6100) (i32.const ${args.length}) (i32.const 8192) (i32.const 4096)) (i32.const 1))
        (then unreachable))
      (call $answer (local.get $out) (local.get $size))`,
      { fuel: 50 },
      `(data (i32.const 6000) "slow") (data (i32.const 6100) ${JSON.stringify(args)})`,
    );
    try {
      expect((await gw.call('bad___echo', { text: 'waited' })).text).toBe('bad: waited');
      expect(readAudit(gw.audit)[0]).toMatchObject({ decision: 'allow', backend_calls: [{ tool: 'slow', ok: true }] });
    } finally {
      await gw.close();
    }
  });
});

describe('modules that do not fit the ABI are refused at start', () => {
  it('a wrong export signature: exit 5 with the export and both signatures', () => {
    const dir = tempDir();
    const wat = guardWat('(call $answer (local.get $out) (local.get $size))').replace(
      '(func (export "label_response") (param i32 i32 i32 i32) (result i32) (i32.const 0))',
      '(func (export "label_response") (param i32) (result i32) (i32.const 0))',
    );
    const config = writeConfig(dir, {
      mcpServers: { s: { ...fixtureServer('tools.ts'), guard: 'g' } },
      guards: { g: { path: watToFile(dir, 'g', wat) } },
    });
    const r = mcpg(['run', '--config', config]);
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
