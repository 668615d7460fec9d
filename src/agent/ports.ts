/**
 * Free-port helpers for the agent's instances. The kernel picks the port (bind to port 0),
 * which avoids guessing; the small window between closing the probe and the instance binding
 * is accepted because instances that lose the race crash and are restarted on a new port.
 */
import net from 'node:net';

/**
 * Returns a TCP port that is free on `host` right now.
 *
 * @example
 * const port = await freePort(); // e.g. 41873
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ port: 0, host, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('could not read the bound port'))));
    });
  });
}

/**
 * Whether `port` can be bound on `host` right now (used to give a restarted instance its old port back).
 *
 * @example
 * if (await isPortFree(8080)) { … }
 */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}
