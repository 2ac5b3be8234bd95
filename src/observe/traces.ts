import { type Attributes, type Context, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { VERSION } from '../shared/version.ts';

/** Where traces go: an OTLP/HTTP endpoint (its /v1/traces), the service name, and headers (a collector's key). */
export interface TracingOptions {
  endpoint: string;
  serviceName: string;
  headers?: Record<string, string>;
}

type Carrier = Record<string, unknown>;
const w3c = new W3CTraceContextPropagator();
const getter = { keys: (c: Carrier) => Object.keys(c), get: (c: Carrier, k: string) => (typeof c[k] === 'string' ? (c[k] as string) : undefined) };
const setter = { set: (c: Carrier, k: string, v: string) => void (c[k] = v) };

/**
 * OpenTelemetry traces over OTLP/HTTP: one span per call (its decision and labels as
 * attributes), the guard's labeling and the server's request as its children. A call continues
 * the agent's W3C trace context (`_meta.traceparent`, `_meta.tracestate`) and passes its own on
 * to the server the same way.
 */
export class Tracing {
  readonly #provider: BasicTracerProvider;
  readonly #tracer;

  constructor(options: TracingOptions) {
    const url = `${options.endpoint.replace(/\/+$/, '')}/v1/traces`;
    this.#provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': options.serviceName, 'service.version': VERSION }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url, headers: options.headers ?? {} }), { scheduledDelayMillis: 1_000 })],
    });
    this.#tracer = this.#provider.getTracer('mcpg', VERSION);
  }

  /** A call's span, in the trace the agent's `_meta` names (or a new one). */
  call(name: string, meta: unknown, attributes: Attributes): { span: Span; context: Context } {
    const parent = meta && typeof meta === 'object' ? w3c.extract(ROOT_CONTEXT, meta as Carrier, getter) : ROOT_CONTEXT;
    const span = this.#tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
    return { span, context: trace.setSpan(parent, span) };
  }

  /** A step of the call (a guard's labeling, the request to the server). */
  async child<T>(parent: Context, name: string, kind: 'internal' | 'client', attributes: Attributes, step: (context: Context) => Promise<T>): Promise<T> {
    const span = this.#tracer.startSpan(name, { kind: kind === 'client' ? SpanKind.CLIENT : SpanKind.INTERNAL, attributes }, parent);
    try {
      return await step(trace.setSpan(parent, span));
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      span.end();
    }
  }

  /** `_meta` with this context's traceparent (and tracestate) for the server. */
  inject(context: Context, meta: unknown): Carrier {
    const out: Carrier = { ...(meta && typeof meta === 'object' ? (meta as Carrier) : {}) };
    delete out.traceparent;
    delete out.tracestate;
    w3c.inject(context, out, setter);
    return out;
  }

  /** Sends what is buffered, and stops. */
  async shutdown(): Promise<void> {
    await this.#provider.shutdown().catch(() => {});
  }
}

