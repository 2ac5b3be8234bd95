// Your guard: three functions. See the mcpg guard ABI in mcpg's registry/README.md.
import { READ, Value, WRITE, agent, requireStr, resource } from "@mcpg-dev/guard-sdk";

/** The agent's labels, from the policy in the user's config. */
export function labelAgent(policy: Value): Value | null {
  return agent([], []);
}

/** What a call touches, and whether it reads or writes. */
export function labelResource(input: Value): Value | null {
  const tool = input.str("tool_name");
  // A field the labels depend on: requireStr denies the call (naming the field) when it is missing.
  if (tool.startsWith("delete_")) return resource(tool + " " + requireStr(input.get("tool_args"), "id"), [], [], WRITE);
  // One thing read: its response takes these labels whatever it holds (true), and mcpg does not
  // call labelResponse for it, one guard call instead of two. A list is left to labelResponse,
  // which may label its items one by one.
  if (tool.startsWith("get_")) return resource(tool, [], [], READ, true);
  if (tool.startsWith("list_")) return resource(tool, [], [], READ);
  return resource(tool, [], [], WRITE);
}

/** Per-item labels of a response; null lets the resource labels cover it. */
export function labelResponse(input: Value): Value | null {
  return null;
}
