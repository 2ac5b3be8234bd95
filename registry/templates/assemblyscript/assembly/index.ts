// The guard ABI's exports: the plumbing is the SDK's, the three functions are guard.ts's.
import { labelAgent, labelResource, labelResponse } from "./guard";
import { handle } from "@mcpg-dev/guard-sdk";
export { alloc, dealloc } from "@mcpg-dev/guard-sdk";
export function label_agent(p: usize, n: i32, o: usize, s: i32): i32 { return handle(p, n, o, s, labelAgent); }
export function label_resource(p: usize, n: i32, o: usize, s: i32): i32 { return handle(p, n, o, s, labelResource); }
export function label_response(p: usize, n: i32, o: usize, s: i32): i32 { return handle(p, n, o, s, labelResponse); }
