/**
 * Listening sockets that outlive the agent's worker process.
 *
 * The agent runs as two processes (see keeper.ts): a small keeper and the worker that proxies,
 * supervises and answers the control socket. Every listening socket the worker opens (the
 * public and preview ports, the control socket) is also handed to the keeper over the IPC
 * channel, which holds a copy of it and never accepts on it. When the worker dies (SIGKILL, a
 * crash), the socket stays open in the keeper: the kernel queues new connections in its
 * backlog instead of refusing them, and the next worker, given the same sockets back, accepts
 * them. Clients see a delay, not a refused connection; only requests in flight in the dead
 * worker fail.
 *
 * Handles travel as raw libuv handles (`net.Native` in Node's IPC), which the receiving process
 * does not start reading: the keeper never accepts a connection itself.
 */
import type net from 'node:net';

/** What one IPC message between keeper and worker says. Handles travel beside `hold` and `held`. */
export type KeeperMessage =
  | { t: 'hello' }
  | { t: 'hold'; key: string }
  | { t: 'release'; key: string }
  | { t: 'ready'; pid: number }
  | { t: 'held'; key: string }
  | { t: 'go' };

/** A raw listening handle as it arrives over IPC (a TCP or Pipe wrap); opaque to us. */
export type RawHandle = object;

/** The key under which a TCP listener is held. */
export function tcpKey(host: string, port: number): string {
  return `tcp:${host}:${port}`;
}

/** The key under which a Unix-socket listener is held. */
export function unixKey(socketPath: string): string {
  return `unix:${socketPath}`;
}

/** The channel to the keeper: `process` in a worker, a fake in tests. */
export interface KeeperChannel {
  readonly connected: boolean;
  send(message: KeeperMessage, handle?: RawHandle): unknown;
}

/**
 * The worker's side: the sockets the keeper gave back at start (`take` them instead of binding
 * anew) and the calls that tell the keeper which sockets to hold. Without a keeper (the agent
 * run in the foreground, in-process tests) it holds nothing and every call is a no-op.
 *
 * @example
 * const held = await HeldSockets.fromKeeper();
 * const handle = held.take(tcpKey('127.0.0.1', 8080));
 * handle ? server.listen(handle) : server.listen(8080, '127.0.0.1', () => held.hold(tcpKey('127.0.0.1', 8080), server));
 */
export class HeldSockets {
  private readonly given: Map<string, RawHandle>;

  constructor(private readonly channel: KeeperChannel | null, given: Iterable<[string, RawHandle]> = []) {
    this.given = new Map(given);
  }

  /** No keeper: nothing is held. */
  static none(): HeldSockets {
    return new HeldSockets(null);
  }

  /**
   * In a worker started by the keeper: asks for the sockets the keeper holds and waits for them
   * (sent before `go`). A spare worker waits here, its code loaded, until the keeper makes it
   * the one that serves; it fails when the keeper goes away first. Elsewhere: `none()`.
   */
  static fromKeeper(): Promise<HeldSockets> {
    const proc = process as NodeJS.Process & { send?: (m: unknown, h?: unknown) => boolean };
    if (typeof proc.send !== 'function' || !process.connected) return Promise.resolve(HeldSockets.none());
    const channel: KeeperChannel = {
      get connected() { return process.connected; },
      send: (m, h) => proc.send!(m, h as never),
    };
    return new Promise((resolve, reject) => {
      const given: Array<[string, RawHandle]> = [];
      const settle = (): void => {
        process.off('message', onMessage);
        process.off('disconnect', onDisconnect);
      };
      const onMessage = (m: KeeperMessage, handle?: RawHandle): void => {
        if (m?.t === 'held' && handle !== undefined) given.push([m.key, handle]);
        if (m?.t === 'go') {
          settle();
          resolve(new HeldSockets(channel, given));
        }
      };
      const onDisconnect = (): void => {
        settle();
        reject(new Error('the agent\'s keeper went away before this worker was started'));
      };
      process.on('message', onMessage);
      process.on('disconnect', onDisconnect);
      // Messages that arrive before a listener are lost: ask only now that one listens.
      channel.send({ t: 'hello' });
    });
  }

  /** Whether a keeper holds this worker's sockets. */
  get kept(): boolean {
    return this.channel !== null;
  }

  /** The socket the keeper kept under `key`, handed over once; null when there is none. */
  take(key: string): RawHandle | null {
    const handle = this.given.get(key);
    if (handle === undefined) return null;
    this.given.delete(key);
    return handle;
  }

  /** Asks the keeper to hold a copy of a listening server's socket. */
  hold(key: string, server: net.Server): void {
    const handle = (server as net.Server & { _handle?: RawHandle | null })._handle;
    if (!this.channel?.connected || !handle) return;
    this.send({ t: 'hold', key }, handle);
  }

  /** Tells the keeper to close its copy: the worker closed the listener on purpose. */
  release(key: string): void {
    this.given.delete(key);
    this.send({ t: 'release', key });
  }

  /** Releases every socket given back at start that no listener took (a route gone meanwhile). */
  releaseUntaken(): string[] {
    const keys = [...this.given.keys()];
    for (const key of keys) this.release(key);
    return keys;
  }

  /** Tells the keeper this worker serves: a later death is a crash to recover from, not a failed start. */
  ready(): void {
    this.send({ t: 'ready', pid: process.pid });
  }

  private send(message: KeeperMessage, handle?: RawHandle): void {
    if (!this.channel?.connected) return;
    try {
      this.channel.send(message, handle);
    } catch {
      // The keeper is gone: the worker serves on alone, as an agent without a keeper.
    }
  }
}

/**
 * Listens on a socket the keeper gave back, or binds anew; either way the keeper holds it after.
 * `bind` is the usual listen call (port/host or path, with its options) for a fresh socket.
 */
export function listenHeld(server: net.Server, held: HeldSockets, key: string, bind: (server: net.Server, done: () => void) => void): Promise<'held' | 'new'> {
  return new Promise((resolve, reject) => {
    const handle = held.take(key);
    const onError = (err: Error): void => { reject(err); };
    server.once('error', onError);
    const done = (how: 'held' | 'new') => () => {
      server.off('error', onError);
      if (how === 'new') held.hold(key, server);
      resolve(how);
    };
    if (handle !== null) server.listen(handle, done('held'));
    else bind(server, done('new'));
  });
}
