// allow-list: only the tools named in the policy may be called.
import { READ, Value, WRITE, agent, resource } from "../../../sdk/assemblyscript";

const allowed = new Set<string>();

/** Policy: { "allow": ["tool", ...] }. */
export function labelAgent(policy: Value): Value | null {
  allowed.clear();
  const list = policy.get("allow");
  if (list != null && list.isArray) {
    for (let i = 0; i < list.items.length; i++) if (list.items[i].isString) allowed.add(list.items[i].s);
  }
  return agent([], []);
}

// A response takes its call's labels (none): mcpg need not ask labelResponse.
export function labelResource(input: Value): Value | null {
  const tool = input.str("tool_name");
  if (allowed.has(tool)) return resource(tool, [], [], READ, true);
  // No agent holds this integrity tag, so the write check always refuses the call.
  return resource(tool + " (not allow-listed)", [], ["allow-list:never"], WRITE, true);
}

/** Asked only by hosts that do not read "response" (gh-aw-mcpg): the same answer, nothing. */
export function labelResponse(input: Value): Value | null {
  return null;
}
