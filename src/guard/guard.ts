import type { Mode } from '../config/schema.ts';
import type { Labels, Operation } from '../difc/labels.ts';
import type { ResponseLabeling } from '../difc/response.ts';
import type { Awaitable } from '../shared/awaitable.ts';
import type { Cancel } from '../shared/cancel.ts';

/**
 * Calls a tool on the guard's own backend, outside DIFC (the gateway logs every such call).
 * `cancel` stops it when the guard's invocation passes its deadline. `refused` hears of a
 * call the host answered -1 without making it (over the limit), for the audit line.
 */
export type BackendCall = ((tool: string, args: Record<string, unknown>, cancel?: Cancel) => Promise<unknown>) & {
  refused?: (tool: string, why: string) => void;
};

export interface AgentAnswer {
  agent: Labels;
  difcMode?: Mode;
}

export interface ResourceAnswer {
  resource: Labels & { description: string };
  operation: Operation;
  /**
   * The guard labels the whole response with the resource's labels, whatever it holds (its
   * `"response": "resource"`): the gateway does not ask label_response, and the response is
   * not copied into the guard to be read.
   */
  wholeResponse?: true;
}

/**
 * What the gateway asks of a guard. Built-in guards and WebAssembly guards both implement it;
 * the pipeline knows nothing else about them. Answers are already validated.
 */
export interface Guard {
  readonly name: string;
  /** The built-in noop guard: it labels nothing, so the server's data is unlabeled. */
  readonly passthrough?: boolean;
  labelAgent(policy: unknown, backend: BackendCall): Promise<AgentAnswer>;
  labelResource(tool: string, args: Record<string, unknown>, backend: BackendCall): Awaitable<ResourceAnswer>;
  /** Asked for every response, unless labelResource answered `wholeResponse`. */
  labelResponse(
    tool: string,
    args: Record<string, unknown>,
    result: unknown,
    backend: BackendCall,
  ): Promise<ResponseLabeling>;
}
