// A continuous request loop in its own process (spawned by test/support/load.ts), so that a
// test's synchronous calls never freeze the client and fake failures. Arguments: port and
// concurrency. Runs until it reads "stop" on stdin (or stdin closes), then prints the result
// as one JSON line on stdout and exits.
import http from 'node:http';

const port = Number(process.argv[2]);
const concurrency = Number(process.argv[3] ?? 4);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const result = { ok: 0, failed: 0, failures: [], versions: {} };
let running = true;

const note = (why) => {
  result.failed++;
  if (result.failures.length < 20) result.failures.push(why);
};

const one = () => new Promise((resolve) => {
  const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c) => { body += c; });
    res.on('end', () => {
      if (res.statusCode === 200) {
        result.ok++;
        const v = body.trim();
        result.versions[v] = (result.versions[v] ?? 0) + 1;
      } else {
        note(`status ${res.statusCode}: ${body.slice(0, 100)}`);
      }
      resolve();
    });
    res.on('error', (err) => { note(`response error ${err.message}`); resolve(); });
  });
  req.on('error', (err) => { note(`request error ${err.code ?? err.message}`); resolve(); });
});

const workers = Array.from({ length: concurrency }, async () => {
  while (running) await one();
});

const stop = async () => {
  if (!running) return;
  running = false;
  await Promise.all(workers);
  agent.destroy();
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
};
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c) => { if (c.includes('stop')) void stop(); });
process.stdin.on('end', () => void stop());
process.stdout.write('ready\n');
