import type { Labels } from '../difc/labels.ts';
import type { Params } from '../proxy/router.ts';
import type { Awaitable } from '../shared/awaitable.ts';

/** An older-era session as any replica can take it up: whose it is, where it is routed, and how it began. */
export interface SessionRecord {
  agent: string;
  /** The server it is routed to ('' for unified). */
  route: string;
  /** The agent's initialize params. */
  initialize: Params;
}

/**
 * What the replicas of one deployment agree on (`[gateway] state`): each agent's labels, its calls
 * in flight, and the older protocol's sessions. Absent, one process holds it all in memory.
 * Every method fails (McpgError STATE_UNAVAILABLE) while the store cannot be reached; what needs
 * it is then refused, never done without it.
 */
export interface SharedState {
  /** Where it is kept, for messages (no password). */
  readonly where: string;
  /** The agent's labels as stored (its initial ones, stored, the first time it is asked for). */
  labels(agent: string, initial: Labels): Awaitable<Labels>;
  /** Merges what the agent read into its stored labels in one step (secrecy grows, integrity shrinks); the labels after. */
  absorb(agent: string, initial: Labels, read: Labels): Awaitable<Labels>;
  /** A call of the agent's begins, if fewer than `max` are in flight on all replicas: its release. A replica that dies releases its calls after `ttlMs`. */
  admit(agent: string, max: number, ttlMs: number): Awaitable<(() => void) | undefined>;
  rememberSession(id: string, record: SessionRecord, ttlMs: number): Promise<void>;
  session(id: string): Promise<SessionRecord | undefined>;
  forgetSession(id: string): Promise<void>;
  /** A secret of the deployment's (32 bytes): made by the first replica that asks, the same for all. */
  secret(name: string): Promise<Buffer>;
  /** Reachable now (`/health`). */
  readonly reachable: boolean;
  close(): Promise<void>;
}
