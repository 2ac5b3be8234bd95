// Native tests of the guard: `npm test` loads the built guard.wasm in Node, where the SDK's
// harness stands in for the gateway (`backend` gives call_backend canned answers by tool).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GuardError, loadGuard } from '@mcpg-dev/guard-sdk/harness';

const guard = await loadGuard(new URL('../guard.wasm', import.meta.url), { backend: {} });

test('reads and writes', () => {
  assert.equal(guard.labelResource({ tool_name: 'get_weather', tool_args: {} }).operation, 'read');
  assert.equal(guard.labelResource({ tool_name: 'echo', tool_args: {} }).operation, 'write');
});

test('a delete without its id is denied, naming the field', () => {
  assert.throws(() => guard.labelResource({ tool_name: 'delete_forecast', tool_args: {} }), (e) => e instanceof GuardError && /missing required field id/.test(e.message));
});
