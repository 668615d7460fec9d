/**
 * GET /v1/windows: each environment's deployment-window state now — open or closed, the
 * sentence saying why, and when it next opens. Read-only (viewer), so the dashboard can show
 * windows without planning a deployment (POST /v1/plan needs a deployer and a release).
 */
import type { FastifyInstance } from 'fastify';
import type { GangwayConfig } from '../config/types.js';
import { evaluateWindows } from '../gates/window.js';

/** One environment's window state, as GET /v1/windows returns it. */
export interface WindowStateView {
  environment: string;
  /** Whether a deployment may start now. */
  open: boolean;
  /** e.g. `closed: deny mon–fri 09:00–17:00 America/New_York (now Tue 10:15 EST)`. */
  reason: string;
  /** Epoch ms of the next opening (now when open); null when it does not open within 366 days. */
  nextOpen: number | null;
  /** The next opening in each window's time zone, e.g. `Tue 17:00 EST`. */
  nextOpenText: string;
  /** Each configured window and whether now is inside it. */
  windows: Array<{ kind: string; window: string; timezone: string; inside: boolean; localTime: string }>;
}

/**
 * Evaluates every environment's windows at `at`, in config order.
 *
 * @example
 * windowStates(config, Date.now())[0] // { environment: 'dev', open: true, reason: 'open: no deployment windows', … }
 */
export function windowStates(config: Pick<GangwayConfig, 'environments'>, at: number): WindowStateView[] {
  return config.environments.map((env) => {
    const e = evaluateWindows(env.windows, at);
    const evidence = e.evidence as { windows: WindowStateView['windows']; nextOpenText?: string };
    return {
      environment: env.name,
      open: e.open,
      reason: e.reason,
      nextOpen: e.nextOpen,
      nextOpenText: evidence.nextOpenText ?? (e.open ? 'now' : ''),
      windows: evidence.windows.map(({ kind, window, timezone, inside, localTime }) => ({ kind, window, timezone, inside, localTime })),
    };
  });
}

/** Registers GET /v1/windows. Authentication is the hook in app.ts. */
export function registerWindowRoutes(app: FastifyInstance, config: Pick<GangwayConfig, 'environments'>, clock: { now(): number } = { now: () => Date.now() }): void {
  app.get('/v1/windows', async () => windowStates(config, clock.now()));
}

/** The OpenAPI path of GET /v1/windows, merged into the document by app.ts. */
export function windowOpenApiPaths(): Record<string, unknown> {
  const state = {
    type: 'object', required: ['environment', 'open', 'reason', 'nextOpen', 'nextOpenText', 'windows'],
    properties: {
      environment: { type: 'string' }, open: { type: 'boolean' }, reason: { type: 'string' },
      nextOpen: { type: ['integer', 'null'], description: 'Epoch milliseconds; null: not within 366 days.' },
      nextOpenText: { type: 'string' },
      windows: {
        type: 'array',
        items: {
          type: 'object', required: ['kind', 'window', 'timezone', 'inside', 'localTime'],
          properties: { kind: { type: 'string', enum: ['allow', 'deny'] }, window: { type: 'string' }, timezone: { type: 'string' }, inside: { type: 'boolean' }, localTime: { type: 'string' } },
        },
      },
    },
  };
  return {
    '/v1/windows': {
      get: {
        summary: "Each environment's deployment-window state now and its next opening",
        responses: { 200: { description: 'One entry per environment, in config order.', content: { 'application/json': { schema: { type: 'array', items: state } } } } },
      },
    },
  };
}
