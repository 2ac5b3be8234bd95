/**
 * The diagnostics channels mcpg publishes on (node:diagnostics_channel): nothing is sent unless
 * something subscribed.
 */

/** A gateway has started its servers and serves agents (`mcpg run`, `mcpg serve`); the message is the Gateway. */
export const SERVING = 'mcpg:gateway:serving';
