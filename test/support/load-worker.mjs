// A continuous request loop in its own process (spawned by test/support/load.ts), so that a
// test's synchronous calls never freeze the client and fake failures. Arguments: where to send
// (a loopback port, or an http:// or https:// URL) and the concurrency. For a URL, the env var
// LOAD_REQUEST may hold `{ "headers": {…}, "ca": "<PEM>" }` (kept out of argv: it may carry a
// bearer token). Prints "ready" once it runs, "answered" after the first 200 and "version V"
// after the first 200 whose body is V. Runs until it
// reads "stop" on stdin (or stdin closes), then prints the result as one JSON line on stdout
// and exits.
import http from 'node:http';
import https from 'node:https';

const where = process.argv[2] ?? '';
const concurrency = Number(process.argv[3] ?? 4);
const extra = process.env.LOAD_REQUEST ? JSON.parse(process.env.LOAD_REQUEST) : {};
const url = /^[0-9]+$/.test(where) ? new URL(`http://127.0.0.1:${where}/`) : new URL(where);
const secure = url.protocol === 'https:';
const agent = secure
  ? new https.Agent({ keepAlive: true, maxSockets: concurrency, ...(extra.ca ? { ca: extra.ca } : {}) })
  : new http.Agent({ keepAlive: true, maxSockets: concurrency });
const options = {
  protocol: url.protocol,
  host: url.hostname,
  port: url.port || (secure ? 443 : 80),
  path: `${url.pathname}${url.search}`,
  headers: extra.headers ?? {},
  agent,
};
// `seen`: the ordinal (among all answers and failures) of the first and last 200 of each version.
const result = { ok: 0, failed: 0, failures: [], versions: {}, seen: {}, last: null };
let answers = 0;
let running = true;

const note = (why) => {
  answers++;
  result.failed++;
  if (result.failures.length < 20) result.failures.push(why);
};

const one = () => new Promise((resolve) => {
  const req = (secure ? https : http).get(options, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c) => { body += c; });
    res.on('end', () => {
      if (res.statusCode === 200) {
        answers++;
        if (result.ok++ === 0) process.stdout.write('answered\n');
        const v = body.trim();
        result.versions[v] = (result.versions[v] ?? 0) + 1;
        if (!result.seen[v]) process.stdout.write(`version ${v}\n`);
        const seen = result.seen[v] ?? (result.seen[v] = { first: answers, last: answers });
        seen.last = answers;
        result.last = v;
      } else {
        note(`status ${res.statusCode}: ${body.slice(0, 200)}`);
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
