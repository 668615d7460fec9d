// A tiny HTTP service for examples/basic: the agent gives each instance its port in PORT.
import { createServer } from 'node:http';

const version = (process.argv.find((a) => a.startsWith('--version=')) ?? '--version=dev').slice('--version='.length);
const port = Number(process.env.PORT ?? 8080);

createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'UP', version }));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`hello from ${version} in ${process.env.APP_ENV ?? 'unknown'}\n`);
}).listen(port, '127.0.0.1');
