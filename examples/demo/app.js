// The demo service. Its behaviour depends on the version it is started with (APP_VERSION):
//   *-broken  never passes its health check        -> the deployment is rolled back before traffic moves
//   *-flaky   healthy for 5 s, then failing         -> the post-deploy watch rolls it back
//   *-slow    answers 300 ms late                   -> healthy, but a canary's latency rule catches it
//   *-errors  fails 20% of requests, health stays UP -> passes dev (health only), a canary's analysis catches it
//   anything else is a good release.
import http from 'node:http';

const version = process.env.APP_VERSION ?? 'dev';
const port = Number(process.env.PORT ?? 3000);
const started = Date.now();
const broken = version.endsWith('-broken');
const flaky = version.endsWith('-flaky');
const slow = version.endsWith('-slow');
const errors = version.endsWith('-errors');
let served = 0;

function failing() {
  return broken || (flaky && Date.now() - started > 5000);
}

const server = http.createServer((req, res) => {
  if (req.url === '/health') {
    const ok = !failing();
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: ok ? 'UP' : 'DOWN', version }));
    return;
  }
  const reply = () => {
    served++;
    if ((failing() && Math.random() < 0.3) || (errors && served % 5 === 0)) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`error from ${version}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ service: 'web', version, pid: process.pid }) + '\n');
  };
  if (slow) setTimeout(reply, 300);
  else reply();
});

server.listen(port, '127.0.0.1', () => {
  console.log(`demo web ${version} listening on 127.0.0.1:${port}`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
