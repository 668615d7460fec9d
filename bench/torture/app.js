#!/usr/bin/env node
// The service the torture run deploys: a tiny node:http server on PORT that answers `/` with
// its version and `/health` with 200 {"status":"UP"}. A release whose version ends in `-bad`
// is healthy for BAD_AFTER_MS (default 1000) after it starts listening, then answers /health
// with 503 for good: it passes its start checks and fails later (during the rollout or the
// post-deploy watch), so the deployment rolls back the way a real bad release makes it.
import http from 'node:http';

const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error(`torture app: no valid PORT, got ${JSON.stringify(process.env.PORT)}`);
  process.exit(64);
}
const version = process.env.APP_VERSION ?? '0.0.0';
const badAfterMs = Number(process.env.BAD_AFTER_MS ?? 1000);
let healthy = true;

const server = http.createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: healthy ? 'UP' : 'DOWN', version }));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`${version}\n`);
});

process.on('SIGTERM', () => process.exit(0));
server.listen(port, '127.0.0.1', () => {
  if (version.endsWith('-bad')) setTimeout(() => { healthy = false; }, badAfterMs).unref();
});
