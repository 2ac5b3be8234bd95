// The guard host in process: each limit holds, a failure costs one call and never the guard,
// every instance hears label_agent exactly once, and a guard that cannot start is retried.
import { describe, expect, it } from 'vitest';
import { type Limits, limitsSchema } from '../../src/config/schema.ts';
import type { BackendCall } from '../../src/guard/guard.ts';
import { WasmGuard, compileGuard } from '../../src/guard/wasm-guard.ts';
import { McpgError } from '../../src/shared/errors.ts';
import type { Cancel } from '../../src/shared/cancel.ts';
import { configureLog } from '../../src/shared/log.ts';
import { AGENT_BODY, READ_DESCRIPTION_AT, guardWat, watToBytes } from '../fixtures/guards/wat.ts';

// Each refused call logs a warning; the assertions read the errors, not the log.
configureLog({ writer: () => {} });

const noBackend: BackendCall = async (tool) => {
  throw new Error(`no backend in this test (${tool})`);
};

async function load(wat: string, limits: Partial<Limits> = {}, backend = noBackend, now?: () => number) {
  const l = limitsSchema.parse(limits);
  const guard = new WasmGuard('hostile', await compileGuard('hostile', watToBytes(wat), l), l, now);
  await guard.labelAgent({}, backend);
  return guard;
}

/** label_resource of `echo` with a text argument; its answer, or the McpgError it failed with. */
async function call(guard: WasmGuard, text: string, backend = noBackend): Promise<string | McpgError> {
  try {
    return (await guard.labelResource('echo', { text }, backend)).resource.description;
  } catch (err) {
    if (err instanceof McpgError) return err;
    throw err;
  }
}

function failure(r: string | McpgError): string {
  expect(r).toBeInstanceOf(McpgError);
  return (r as McpgError).message;
}

const ANSWER = '(call $answer (local.get $out) (local.get $size))';
/** Misbehaves on short inputs (the call with text "x"), answers longer ones. */
const onShort = (bad: string) => `(if (i32.lt_u (local.get $inLen) (i32.const 50)) (then ${bad})) ${ANSWER}`;
const callBackend = (tool: number, toolLen: number, args: number, argsLen: number) =>
  `(call $call_backend (i32.const ${tool}) (i32.const ${toolLen}) (i32.const ${args}) (i32.const ${argsLen}) (i32.const 8192) (i32.const 4096))`;

describe('a failure costs one call: the next call gets a fresh instance', () => {
  it('an endless loop runs out of fuel', async () => {
    const guard = await load(guardWat(onShort('(loop $spin (br $spin))')), { fuel: 2_000_000 });
    expect(failure(await call(guard, 'x'))).toMatch(/^guard "hostile" label_resource ran out of fuel \(CPU limit/);
    expect(await call(guard, 'a longer text, answered')).toBe('ok');
  });

  it('a loop with a 20,000-instruction body is stopped within the default fuel', async () => {
    const body = Array.from({ length: 5_000 }, () => '(local.set $n (i32.add (local.get $n) (i32.const 1)))').join(' ');
    const guard = await load(guardWat(`(local $n i32) ${onShort(`(loop $l ${body} (br $l))`)}`));
    expect(failure(await call(guard, 'x'))).toMatch(/ran out of fuel/);
    expect(await call(guard, 'a longer text, answered')).toBe('ok');
  });

  it('a trap, a memory grow past the cap, an oversized answer, invalid JSON and wrong types each fail only their call', async () => {
    const bad = '{"resource":{"secrecy":"private","integrity":[]},"operation":"read"}';
    // "response" says only "resource" (the response takes the call's labels), nothing else.
    const unknownResponse = '{"resource":{"secrecy":[],"integrity":[]},"operation":"read","response":"items"}';
    const cases: [string, RegExp][] = [
      ['unreachable', /label_resource trapped: unreachable$/],
      ['(if (i32.eq (memory.grow (i32.const 1024)) (i32.const -1)) (then unreachable))', /trapped: unreachable/],
      ['(i32.store (local.get $out) (i32.const 104857600)) (return (i32.const -2))', /needs a 104857600-byte output buffer, over the 16 MiB output cap/],
      ['(i32.store (local.get $out) (i32.const 0x6e6f6e7b)) (return (i32.const 4))', /label_resource answered malformed labels: not valid JSON/],
      [`(return (call $write (i32.const 5000) (i32.const ${bad.length}) (local.get $out) (local.get $size)))`, /field resource\.secrecy: Invalid input: expected array/],
      ['(return (i32.const -7))', /label_resource returned error code -7/],
      [`(return (call $write (i32.const 6000) (i32.const ${unknownResponse.length}) (local.get $out) (local.get $size)))`, /field response: Invalid input: expected "resource"/],
    ];
    for (const [misbehave, pattern] of cases) {
      const guard = await load(guardWat(onShort(misbehave), `(data (i32.const 5000) ${JSON.stringify(bad)}) (data (i32.const 6000) ${JSON.stringify(unknownResponse)})`), { instances: 1 });
      for (let round = 0; round < 3; round++) {
        expect(failure(await call(guard, 'x'))).toMatch(pattern);
        expect(await call(guard, 'a longer text, answered')).toBe('ok');
      }
    }
  });

  it('the -2 retry path: a guard that asks for a bigger buffer gets one', async () => {
    const guard = await load(guardWat(`(if (i32.lt_u (local.get $size) (i32.const 70000))
        (then (i32.store (local.get $out) (i32.const 70000)) (return (i32.const -2)))) ${ANSWER}`));
    expect(await call(guard, 'grown')).toBe('ok');
  });
});

describe('backend calls from a guard', () => {
  const echo = callBackend(3072, 4, 3100, 2);

  it('past limits.backend_calls, call_backend answers -1 and the guard goes on (as in gh-aw-mcpg); the refusals are recorded', async () => {
    let calls = 0;
    const refused: string[] = [];
    const backend: BackendCall = Object.assign(async () => ({ content: [], n: ++calls }), { refused: (tool: string, why: string) => void refused.push(`${tool}: ${why}`) });
    // 60 calls, as a guard checking 60 authors would; it answers when its loop is done.
    const guard = await load(
      guardWat(`(local $i i32) (loop $more (drop ${echo}) (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $more (i32.lt_u (local.get $i) (i32.const 60)))) ${ANSWER}`),
      { backend_calls: 5 },
    );
    expect(await call(guard, 'x', backend)).toBe('ok');
    expect(calls).toBe(5);
    expect(refused).toHaveLength(55);
    expect(refused[0]).toBe('echo: over limits.backend_calls (5)');
  });

  it('a guard calling the host in a loop is stopped by fuel: each host call costs fuel', async () => {
    // 1,000 calls (refused after 5) whose own instructions need a few thousand units of fuel:
    // within 1,000,000 only if the host calls cost nothing.
    const loop = `(local $i i32) (loop $more (drop ${echo}) (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $more (i32.lt_u (local.get $i) (i32.const 1000)))) ${ANSWER}`;
    const guard = await load(guardWat(loop), { backend_calls: 5, fuel: 1_000_000 });
    expect(failure(await call(guard, 'x', async () => ({ content: [] })))).toMatch(/ran out of fuel/);
    // The same loop 100 times is within the budget: what stops it is the price of the calls.
    const cheap = await load(guardWat(loop.replace('1000', '100')), { backend_calls: 5, fuel: 1_000_000 });
    expect(await call(cheap, 'x', async () => ({ content: [] }))).toBe('ok');
  });

  it('host_log is priced by the bytes it is given: 100 lines of 16 MiB run out of fuel', async () => {
    const imports = '(import "env" "host_log" (func $log (param i32 i32 i32)))';
    const loop = `(local $i i32) (loop $more (call $log (i32.const 0) (i32.const 0) (i32.const 16777216)) (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $more (i32.lt_u (local.get $i) (i32.const 100)))) ${ANSWER}`;
    const guard = await load(guardWat(loop, '', undefined, { imports, pages: 257 }));
    expect(failure(await call(guard, 'x'))).toMatch(/ran out of fuel/);
  });

  it('the deadline runs from the call\'s start: a guard that never waits is stopped at its next host call', async () => {
    const imports = '(import "env" "host_log" (func $log (param i32 i32 i32)))';
    const guard = await load(guardWat(`(loop $spin (call $log (i32.const 0) (i32.const 0) (i32.const 1)) (br $spin)) ${ANSWER}`, '', undefined, { imports }), { timeout_ms: 50, fuel: 2_000_000_000_000 });
    expect(failure(await call(guard, 'x'))).toMatch(/did not answer within 50 ms \(limits\.timeout_ms\)/);
  });

  it('limits.backend_tools refuses tools outside the list (call_backend answers -1)', async () => {
    const guard = await load(guardWat(`(if (i32.ne ${echo} (i32.const -1)) (then unreachable)) ${ANSWER}`), { backend_tools: ['whoami'] });
    expect(await call(guard, 'z', async () => ({}))).toBe('ok');
  });

  it('time spent waiting in call_backend costs no fuel', async () => {
    const slow: BackendCall = () => new Promise((resolve) => setTimeout(() => resolve({ content: [] }), 300));
    // Fuel for the host call (5,000) and a few instructions: 300 ms of waiting must cost none.
    const guard = await load(guardWat(`(if (i32.lt_s ${echo} (i32.const 1)) (then unreachable)) ${ANSWER}`), { fuel: 6_000 });
    expect(await call(guard, 'waited', slow)).toBe('ok');
  });

  it('a guard stuck in call_backend is stopped at its deadline; the backend call is cancelled', async () => {
    const cancels: Cancel[] = [];
    // Never answers on its own: it settles only when the host cancels it.
    const stuck: BackendCall = (_tool, _args, cancel) =>
      new Promise((_, reject) => {
        cancels.push(cancel!);
        cancel!.onCancel(() => reject(new Error('cancelled')));
      });
    const guard = await load(guardWat(`(drop ${echo}) ${ANSWER}`), { timeout_ms: 200, instances: 1 });
    expect(failure(await call(guard, 'x', stuck))).toMatch(/label_resource did not answer within 200 ms \(limits\.timeout_ms\)/);
    expect(cancels).toHaveLength(1);
    expect(cancels[0]!.cancelled).toBe(true);
    expect(await call(guard, 'next', async () => ({ content: [] }))).toBe('ok');
    // The instance's one deadline timer, armed again for each call that waits.
    expect(await call(guard, 'next', async () => ({ content: [] }))).toBe('ok');
    expect(failure(await call(guard, 'x', stuck))).toMatch(/did not answer within 200 ms/);
    expect(cancels).toHaveLength(2);
    expect(cancels[1]!.cancelled).toBe(true);
  });
});

describe('instances that cannot wait run the calls whose guest does not (no stack of their own)', () => {
  // label_agent logs each run (an instance started); label_resource asks the backend only when
  // its input is long (the tool "fetch" with a long text).
  const sometimes = guardWat(
    `(if (i32.gt_u (local.get $inLen) (i32.const 80)) (then (if (i32.lt_s ${callBackend(3072, 4, 3100, 2)} (i32.const 1)) (then unreachable)))) ${ANSWER}`,
    '(data (i32.const 3200) "started")',
    `(call $log (i32.const 1) (i32.const 3200) (i32.const 7)) ${AGENT_BODY}`,
    { imports: '(import "env" "host_log" (func $log (param i32 i32 i32)))' },
  );
  const LONG = 'a text long enough to make the guard ask its backend';

  async function run(instances: number) {
    const lines: string[] = [];
    configureLog({ level: 'debug', writer: (line) => void (line.includes('started') && lines.push(line)) });
    let backendCalls = 0;
    const backend: BackendCall = async () => (backendCalls++, { content: [] });
    try {
      const guard = await load(sometimes, { instances }, backend);
      const label = async (tool: string, text: string) => (await guard.labelResource(tool, { text }, backend)).resource.description;
      const steps: [number, number][] = [];
      const step = async (tool: string, text: string) => {
        expect(await label(tool, text)).toBe('ok');
        steps.push([lines.length, backendCalls]);
      };
      await step('echo', 'x');
      // Its guest waits: made again on a fresh instance that can, which keeps this call from then on.
      await step('fetch', LONG);
      await step('fetch', LONG);
      await step('echo', 'x');
      await step('echo', 'x');
      return steps;
    } finally {
      configureLog({ level: 'info', writer: () => {} });
    }
  }

  it('a call whose guest waits is made again where it can, never reaching the backend twice', async () => {
    // [instances started, backend calls] after each call: the stopped attempt asked the backend nothing.
    expect(await run(2)).toEqual([
      [1, 0],
      [2, 1],
      [2, 2],
      // "echo" goes back to an instance that cannot wait: one more is made, then kept.
      [3, 2],
      [3, 2],
    ]);
  });

  it('with one instance allowed, the one that can wait serves every call', async () => {
    expect(await run(1)).toEqual([
      [1, 0],
      [2, 1],
      [2, 2],
      [2, 2],
      [2, 2],
    ]);
  });
});

describe('label_agent', () => {
  // label_agent counts its runs in a global and asks the backend for "echo" (it fails when the
  // backend does); label_resource reports the count as its description.
  const counting = guardWat(
    `(i32.store8 (i32.const ${READ_DESCRIPTION_AT}) (i32.add (i32.const 48) (global.get $agentCalls)))
     (if (i32.lt_u (local.get $inLen) (i32.const 50)) (then unreachable))
     ${callBackend(3072, 4, 3100, 2)} (drop)
     ${ANSWER}`,
    '(global $agentCalls (mut i32) (i32.const 0))',
    `(global.set $agentCalls (i32.add (global.get $agentCalls) (i32.const 1)))
     (if (i32.lt_s ${callBackend(3072, 4, 3100, 2)} (i32.const 1)) (then unreachable))
     ${AGENT_BODY}`,
  );

  it('runs exactly once per instance, with the real backend', async () => {
    let backendCalls = 0;
    const backend: BackendCall = async () => {
      backendCalls++;
      await new Promise((r) => setTimeout(r, 20));
      return { content: [] };
    };
    const guard = await load(counting, { instances: 3 }, backend);
    expect(backendCalls).toBe(1);
    // Six concurrent calls on three instances: each instance reports one label_agent run.
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => call(guard, `a long enough text number ${i}, answered`, backend)));
    expect(answers).toEqual(Array(6).fill('1k'));
    // Three instances' label_agent and six label_resource calls reached the backend.
    expect(backendCalls).toBe(3 + 6);
  });

  it('a trap replaces the instance; the caller waiting for it gets a fresh one told the policy through the real backend', async () => {
    let backendCalls = 0;
    const backend: BackendCall = async () => {
      backendCalls++;
      return { content: [] };
    };
    const guard = await load(counting, { instances: 1 }, backend);
    const [bad, good] = await Promise.all([call(guard, 'x', backend), call(guard, 'a long enough text to be answered', backend)]);
    expect(failure(bad)).toMatch(/trapped: unreachable/);
    expect(good).toBe('1k');
    // The first instance's label_agent; the fresh one's label_agent and label_resource.
    expect(backendCalls).toBe(3);
  });

  it('when fresh instances keep failing label_agent the guard is failed, says so, and is retried with backoff', async () => {
    let up = true;
    let backendCalls = 0;
    const backend: BackendCall = async () => {
      backendCalls++;
      if (!up) throw new Error('backend down');
      return { content: [] };
    };
    let clock = 0;
    const guard = await load(counting, { instances: 1 }, backend, () => clock);
    up = false;
    expect(failure(await call(guard, 'x', backend))).toMatch(/trapped/);
    for (let i = 0; i < 3; i++) expect(failure(await call(guard, 'a long enough text to be answered', backend))).toMatch(/label_agent trapped/);
    const before = backendCalls;
    const denied = failure(await call(guard, 'a long enough text to be answered', backend));
    expect(denied).toBe('guard "hostile" cannot start: label_agent trapped: unreachable; it is failed until a retry in 1s');
    expect(backendCalls).toBe(before);
    up = true;
    clock += 1_001;
    expect(await call(guard, 'a long enough text to be answered', backend)).toBe('1k');
  });
});
