/**
 * A continuous request loop through a public port, as users would send: keep-alive
 * connections, several at once. Counts every answer and every failure.
 */
import http from 'node:http';

export interface LoadResult { ok: number; failed: number; failures: string[]; versions: Record<string, number> }

export function startLoad(port: number, concurrency = 4): { stop(): Promise<LoadResult> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const result: LoadResult = { ok: 0, failed: 0, failures: [], versions: {} };
  let running = true;
  const one = () => new Promise<void>((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => {
        if (res.statusCode === 200) {
          result.ok++;
          const v = body.trim();
          result.versions[v] = (result.versions[v] ?? 0) + 1;
        } else {
          result.failed++;
          if (result.failures.length < 20) result.failures.push(`status ${res.statusCode}: ${body.slice(0, 100)}`);
        }
        resolve();
      });
      res.on('error', (err) => { result.failed++; result.failures.push(`response error ${err.message}`); resolve(); });
    });
    req.on('error', (err) => {
      result.failed++;
      if (result.failures.length < 20) result.failures.push(`request error ${(err as NodeJS.ErrnoException).code ?? err.message}`);
      resolve();
    });
  });
  const workers = Array.from({ length: concurrency }, async () => {
    while (running) await one();
  });
  return {
    async stop() {
      running = false;
      await Promise.all(workers);
      agent.destroy();
      return result;
    },
  };
}
