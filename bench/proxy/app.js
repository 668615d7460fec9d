// The trivial app every subject fronts: answers "hello" with keep-alive.
import http from 'node:http';

const port = Number(process.argv[2]);
const body = Buffer.from('hello world\n');
const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.setHeader('content-length', body.length);
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0));
