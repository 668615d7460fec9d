// A paced request loop in its own process, for measuring an outage of a public port: each of
// `concurrency` workers sends GET / over a fresh connection (no keep-alive: a new connection
// per request sees at once whether anybody listens), then waits `paceMs` before the next.
// Arguments: port, concurrency, paceMs. Prints "ready", then "failed" at the first failure, and
// "served-after-failure" at the first 200 after a failure. Runs until "stop" on stdin (or
// stdin closes), then prints one JSON line and exits:
// { ok, failed, failures: { "<kind>": n }, versions: { V: n },
//   firstFailureAt, lastFailureAt, servedAgainAt,   // ms since the loop started, or null
//   longestGapMs }                                    // the longest time between two 200s
import http from 'node:http';

const port = Number(process.argv[2]);
const concurrency = Number(process.argv[3] ?? 4);
const paceMs = Number(process.argv[4] ?? 10);
const t0 = performance.now();
const now = () => Math.round((performance.now() - t0) * 10) / 10;
const result = { ok: 0, failed: 0, failures: {}, versions: {}, firstFailureAt: null, lastFailureAt: null, servedAgainAt: null, longestGapMs: 0 };
let lastOk = null;
let running = true;

const fail = (kind) => {
  result.failed++;
  result.failures[kind] = (result.failures[kind] ?? 0) + 1;
  const at = now();
  if (result.firstFailureAt === null) { result.firstFailureAt = at; process.stdout.write('failed\n'); }
  result.lastFailureAt = at;
};

const one = () => new Promise((resolve) => {
  const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 10_000 }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c) => { body += c; });
    res.on('end', () => {
      if (res.statusCode === 200) {
        const at = now();
        result.ok++;
        const v = body.trim();
        result.versions[v] = (result.versions[v] ?? 0) + 1;
        if (lastOk !== null) result.longestGapMs = Math.max(result.longestGapMs, Math.round(at - lastOk));
        lastOk = at;
        if (result.firstFailureAt !== null && result.servedAgainAt === null && at > result.firstFailureAt) {
          result.servedAgainAt = at;
          process.stdout.write('served-after-failure\n');
        }
      } else {
        fail(`status ${res.statusCode}`);
      }
      resolve();
    });
    res.on('error', (err) => { fail(`response ${err.code ?? err.message}`); resolve(); });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (err) => { fail(`request ${err.code ?? err.message}`); resolve(); });
});

const workers = Array.from({ length: concurrency }, async () => {
  while (running) {
    await one();
    await new Promise((r) => setTimeout(r, paceMs));
  }
});

const stop = async () => {
  if (!running) return;
  running = false;
  await Promise.all(workers);
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
};
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c) => { if (c.includes('stop')) void stop(); });
process.stdin.on('end', () => void stop());
process.stdout.write('ready\n');
