// What every template, as built, must do: answer a call, and pass its own cases.
import { join } from 'node:path';
import { expect } from 'vitest';
import { mcpg } from '../helpers/mcpg.ts';

/** The template as built answers a call, and passes its own cases (one a missing required field). */
export function expectTemplateAnswers(dir: string): void {
  const r = mcpg(['guard', 'call', join(dir, 'guard.wasm'), 'label_resource', '--input', '{"tool_name":"list_things","tool_args":{}}']);
  expect(r.stderr).toBe('');
  expect(JSON.parse(r.stdout)).toEqual({ resource: { description: 'list_things', secrecy: [], integrity: [] }, operation: 'read' });
  // The template's own cases, one of them a required field missing: denied with its name.
  const t = mcpg(['guard', 'test', join(dir, 'guard.wasm'), join(dir, 'cases.toml')]);
  expect(t.stdout.trim().split('\n').pop()).toBe('5 passed, 0 failed');
  expect(t.code).toBe(0);
}
