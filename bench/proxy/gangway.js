// Gangway's proxy in its own process, as the agent runs it: one route, one ready instance.
import { ProxyHub } from '../../dist/agent/proxy.js';
import { RequestMetrics } from '../../dist/agent/request-metrics.js';

const [listenPort, appPort] = process.argv.slice(2).map(Number);
const ready = [{ id: 'app-1', version: 'v1', port: appPort }];
const hub = new ProxyHub({ backends: { ready: () => ready }, metrics: new RequestMetrics() });
await hub.setRoute({ service: 'bench', environment: 'local', host: '127.0.0.1', port: listenPort, versions: [{ version: 'v1', weight: 100 }], preview: null });
process.stdout.write('ready\n');
process.on('SIGTERM', () => { void hub.close(0).then(() => process.exit(0)); });
