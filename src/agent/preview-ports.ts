/**
 * Preview ports the agent chooses. A route may ask for preview port 0 (blue-green without a
 * configured `previewPort`): the agent then takes a free port on the route's host the first
 * time and keeps it for that (service, environment) — in the state file, so it survives agent
 * restarts and the preview reopens on the same port for every later deployment. Only when
 * another process holds the kept port as the preview opens again does the agent choose anew.
 */
import { freePort, isPortFree } from './ports.js';
import type { PreviewPortChoice, RouteSpec } from './types.js';

/**
 * The agent's chosen preview ports, one per (service, environment).
 *
 * @example
 * const ports = new PreviewPorts(previous?.previewPorts ?? [], persist);
 * const route = await ports.resolve({ ...spec, preview: { port: 0, version: '2.0.0' } }, proxy.routes());
 * route.preview.port // e.g. 41873, the same one next time
 */
export class PreviewPorts {
  private readonly chosen = new Map<string, PreviewPortChoice>();

  /** `initial`: the choices of the state file; `onChange` is called after a new choice (to save it). */
  constructor(initial: readonly PreviewPortChoice[] = [], private readonly onChange: () => void = () => {}) {
    for (const c of initial) this.chosen.set(key(c.service, c.environment), { service: c.service, environment: c.environment, port: c.port });
  }

  /** Every choice, for the state file and `AgentState.previewPorts`. */
  list(): PreviewPortChoice[] {
    return [...this.chosen.values()].map((c) => ({ ...c }));
  }

  /**
   * `route` with its preview port filled in when it asks for 0 (returned as it is otherwise): the
   * port kept for the pair when its preview listener holds it already or it is free, else a new
   * free port, remembered. `served` are the routes served now (their ports are never chosen);
   * `notPort` is a port known to be taken (a bind that just lost a race).
   */
  async resolve(route: RouteSpec, served: readonly RouteSpec[], notPort?: number): Promise<RouteSpec> {
    if (route.preview === null || route.preview.port !== 0) return route;
    const k = key(route.service, route.environment);
    const kept = this.chosen.get(k)?.port;
    const current = served.find((r) => r.service === route.service && r.environment === route.environment);
    const withPort = (port: number): RouteSpec => ({ ...route, preview: { port, version: route.preview!.version } });
    if (kept !== undefined && kept !== notPort && kept !== route.port) {
      if (current?.preview?.port === kept && current.host === route.host) return withPort(kept);
      if (!this.heldByRoute(kept, served) && await isPortFree(kept, route.host)) return withPort(kept);
    }
    const avoid = new Set<number>([route.port, ...served.flatMap((r) => [r.port, r.preview?.port ?? 0])]);
    for (const [other, c] of this.chosen) if (other !== k) avoid.add(c.port);
    if (notPort !== undefined) avoid.add(notPort);
    for (let attempt = 0; attempt < 20; attempt++) {
      const port = await freePort(route.host);
      if (avoid.has(port)) continue;
      this.chosen.set(k, { service: route.service, environment: route.environment, port });
      this.onChange();
      return withPort(port);
    }
    throw new Error(`could not find a free preview port on ${route.host} for ${route.service} in ${route.environment}`);
  }

  private heldByRoute(port: number, served: readonly RouteSpec[]): boolean {
    return served.some((r) => r.port === port || r.preview?.port === port);
  }
}

function key(service: string, environment: string): string {
  return `${service}\u0000${environment}`;
}
