// The anchor of `npm run bench`: the work of one repo-visibility label_resource with a backend
// call (JSON in, one host-function call, JSON out), as an Extism plugin for Extism's JS SDK,
// with the same JSON code as mcpg's AssemblyScript SDK.
import { Host, Memory } from "@extism/as-pdk";
import { length } from "@extism/as-pdk/lib/env";
import { Value, parse } from "../../../registry/sdk/assemblyscript/json";

// @ts-ignore: decorator
@external("extism:host/user", "call_backend")
declare function call_backend(request: u64): u64;

export function label_resource(): i32 {
  const input = parse(Host.inputString());
  if (input == null) return 1;
  const args = input.get("tool_args");
  const repo = args != null ? args.str("owner") + "/" + args.str("repo") : "";
  const request = Value.obj()
    .set("tool", Value.str("search_repositories"))
    .set("args", Value.obj().set("query", Value.str("repo:" + repo)));
  const sent = Memory.allocateString(request.toString());
  const at = call_backend(sent.offset);
  sent.free();
  let priv = true;
  const result = parse(new Memory(at, length(at)).toString());
  if (result != null) {
    const content = result.get("content");
    const text = content != null && content.isArray && content.items.length > 0 ? content.items[0].str("text") : "";
    const doc = parse(text);
    const items = doc != null ? doc.get("items") : null;
    if (items != null && items.isArray) {
      for (let i = 0; i < items.items.length; i++) {
        const item = items.items[i];
        if (item.str("full_name").toLowerCase() == repo.toLowerCase()) priv = item.flag("private", true);
      }
    }
  }
  const secrecy: string[] = priv ? ["private:" + repo] : [];
  const resource = Value.obj()
    .set("description", Value.str(input.str("tool_name") + " " + repo))
    .set("secrecy", Value.strings(secrecy))
    .set("integrity", Value.strings([]));
  Host.outputString(Value.obj().set("resource", resource).set("operation", Value.str("read")).toString());
  // Built like mcpg's guards (the minimal runtime), so it collects the way the SDK does.
  if ((<usize>memory.size() << 16) > (8 << 20)) __collect();
  return 0;
}
