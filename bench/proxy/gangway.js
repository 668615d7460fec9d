// Gangway's proxy in its own process, as the agent runs it: one route, one ready instance.
// argv: listenPort appPort [forwarded: on (default) | off] [dist folder to load the proxy from, default dist/]
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const [listenPort, appPort] = process.argv.slice(2, 4).map(Number);
const forwarded = (process.argv[4] ?? 'on') !== 'off';
const dist = path.resolve(process.argv[5] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '../../dist'));
const { ProxyHub } = await import(pathToFileURL(path.join(dist, 'agent/proxy.js')).href);
const { RequestMetrics } = await import(pathToFileURL(path.join(dist, 'agent/request-metrics.js')).href);

const ready = [{ id: 'app-1', version: 'v1', port: appPort }];
const hub = new ProxyHub({ backends: { ready: () => ready }, metrics: new RequestMetrics(), forwardedHeaders: forwarded });
await hub.setRoute({ service: 'bench', environment: 'local', host: '127.0.0.1', port: listenPort, versions: [{ version: 'v1', weight: 100 }], preview: null });
process.stdout.write('ready\n');
process.on('SIGTERM', () => { void hub.close(0).then(() => process.exit(0)); });
