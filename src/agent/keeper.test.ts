import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HeldSockets, tcpKey, type KeeperChannel, type KeeperMessage } from './held-sockets.js';
import { runKeeper, type RunningKeeper } from './keeper.js';

/**
 * Worker scripts for the keeper, written per test: each speaks the keeper's protocol by hand
 * (hello → held… → go → ready) and then does what its name says.
 */
const PROLOGUE = `
const held = new Map();
process.on('message', (m, h) => {
  if (m.t === 'held') held.set(m.key, h);
  if (m.t === 'go') main();
});
process.send({ t: 'hello' });
`;

let dir: string;
const keepers: RunningKeeper[] = [];

beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-keeper-')); });
afterEach(async () => {
  for (const k of keepers.splice(0)) { k.stop(); await k.done; }
  fs.rmSync(dir, { recursive: true, force: true });
});

function script(name: string, body: string): string {
  const file = path.join(dir, `${name}.cjs`);
  fs.writeFileSync(file, `${PROLOGUE}\n${body}\n`);
  return file;
}

function keeper(mainScript: string, events: Array<Record<string, unknown>>, over: { maxCrashes?: number } = {}): RunningKeeper {
  const k = runKeeper({ mainScript, workerArgs: [], log: (e) => events.push(e), ...over });
  keepers.push(k);
  return k;
}

async function until<T>(what: string, fn: () => T | undefined | null | false): Promise<T> {
  for (const deadline = Date.now() + 10_000; ;) {
    const v = fn();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function ask(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    let text = '';
    c.setEncoding('utf8').on('data', (d: string) => { text += d; }).on('end', () => resolve(text)).on('error', reject);
  });
}

describe('runKeeper', () => {
  it('starts a worker that died after serving again at once, handing it the sockets it held; connections made meanwhile wait and are served', async () => {
    const port = await freePort();
    // Answers its pid on each connection; binds the port the first time, takes the held one after.
    const worker = script('serve', `
const net = require('node:net');
function main() {
  const server = net.createServer((c) => c.end(String(process.pid)));
  const h = held.get('tcp:127.0.0.1:${port}');
  const done = () => { if (!h) process.send({ t: 'hold', key: 'tcp:127.0.0.1:${port}' }, server._handle); process.send({ t: 'ready', pid: process.pid }); };
  h ? server.listen(h, done) : server.listen(${port}, '127.0.0.1', done);
}`);
    const events: Array<Record<string, unknown>> = [];
    const k = keeper(worker, events);
    await until('the first worker serving', () => events.some((e) => e.msg === 'agent worker serving'));
    const first = k.workerPid()!;
    expect(await ask(port)).toBe(String(first));
    await until('the port held', () => k.heldKeys().length === 1);
    expect(k.heldKeys()).toEqual([tcpKey('127.0.0.1', port)]);
    // A spare is loaded beside the worker; it does not serve.
    const spare = await until('a spare worker', () => k.sparePid());

    process.kill(first, 'SIGKILL');
    await until('the first worker gone', () => k.workerPid() !== first);
    // No worker may be listening yet: the connection waits in the backlog rather than being refused.
    const answer = await ask(port);
    const second = await until('the second worker', () => k.workerPid());
    expect(answer).toBe(String(second));
    // The spare took over, and a new spare loads beside it.
    expect(second).toBe(spare);
    const nextSpare = await until('the next spare', () => k.sparePid());
    expect([first, second]).not.toContain(nextSpare);
    expect(events.map((e) => e.msg)).toEqual(['agent worker serving', 'agent worker died; starting it again, the sockets held', 'agent worker serving']);
    expect(events[1]).toMatchObject({ signal: 'SIGKILL', held: [tcpKey('127.0.0.1', port)], spare: true });
  });

  it('closes a socket the worker releases: the port is free again', async () => {
    const port = await freePort();
    const worker = script('release', `
const net = require('node:net');
function main() {
  const server = net.createServer((c) => c.end('x'));
  server.listen(${port}, '127.0.0.1', () => {
    process.send({ t: 'hold', key: 'p' }, server._handle);
    process.send({ t: 'ready', pid: process.pid });
    server.close(() => process.send({ t: 'release', key: 'p' }));
  });
}`);
    const events: Array<Record<string, unknown>> = [];
    const k = keeper(worker, events);
    await until('held then released', () => events.length > 0 && k.heldKeys().length === 0);
    // Bindable again: nobody holds it.
    const probe = net.createServer();
    await new Promise<void>((resolve, reject) => probe.once('error', reject).listen({ port, host: '127.0.0.1', exclusive: true }, resolve));
    await new Promise((r) => probe.close(r));
  });

  it('lets a spare that died go, forks a worker at once when a crash finds no spare, and a spare after it serves', async () => {
    const worker = script('plain', `function main() { process.send({ t: 'ready', pid: process.pid }); }`);
    const events: Array<Record<string, unknown>> = [];
    const k = keeper(worker, events);
    const spare = await until('a spare', () => k.sparePid());
    process.kill(spare, 'SIGKILL');
    await until('the spare gone', () => k.sparePid() === null);
    expect(events.at(-1)).toEqual({ msg: 'spare agent worker ended', code: null, signal: 'SIGKILL' });
    process.kill(k.workerPid()!, 'SIGKILL');
    await until('a new worker serving', () => events.filter((e) => e.msg === 'agent worker serving').length === 2);
    expect(events.find((e) => e.msg === 'agent worker died; starting it again, the sockets held')).toMatchObject({ spare: false });
    expect(await until('a new spare', () => k.sparePid())).not.toBe(spare);
  });

  it('ends with the code of a worker that dies before it serves, without starting another', async () => {
    const worker = script('fail', `function main() { process.exit(3); }`);
    const events: Array<Record<string, unknown>> = [];
    const k = keeper(worker, events);
    expect(await k.done).toBe(3);
    expect(events).toEqual([{ msg: 'agent worker failed to start', code: 3, signal: null }]);
  });

  it('gives up after maxCrashes crashes within the window and ends with 1', async () => {
    const worker = script('crash', `function main() { process.send({ t: 'ready', pid: process.pid }); setTimeout(() => process.exit(5), 20); }`);
    const events: Array<Record<string, unknown>> = [];
    const k = keeper(worker, events, { maxCrashes: 3 });
    expect(await k.done).toBe(1);
    expect(events.filter((e) => e.msg === 'agent worker serving')).toHaveLength(3);
    expect(events.filter((e) => e.msg === 'agent worker died; starting it again, the sockets held')).toHaveLength(2);
    expect(events.at(-1)).toMatchObject({ msg: 'agent worker crashed 3 times within 60000 ms; giving up', code: 5 });
  });

  it('ends with 0 when its worker ends cleanly, and passes stop() on to the worker as SIGTERM', async () => {
    const clean = script('clean', `function main() { process.send({ t: 'ready', pid: process.pid }); setTimeout(() => process.exit(0), 20); }`);
    const a = keeper(clean, []);
    expect(await a.done).toBe(0);

    const term = path.join(dir, 'term.txt');
    const waits = script('waits', `function main() {
  process.on('SIGTERM', () => { require('node:fs').writeFileSync(${JSON.stringify(term)}, 'SIGTERM'); process.exit(0); });
  process.send({ t: 'ready', pid: process.pid });
  setInterval(() => {}, 1000);
}`);
    const events: Array<Record<string, unknown>> = [];
    const b = keeper(waits, events);
    await until('serving', () => events.length === 1);
    b.stop();
    expect(await b.done).toBe(0);
    expect(fs.readFileSync(term, 'utf8')).toBe('SIGTERM');
  });
});

describe('HeldSockets', () => {
  function channel(): KeeperChannel & { sent: Array<[KeeperMessage, unknown]> } {
    const sent: Array<[KeeperMessage, unknown]> = [];
    return { connected: true, sent, send: (m, h) => { sent.push([m, h]); } };
  }

  it('hands each given socket over once, and releases those no listener took', () => {
    const ch = channel();
    const a = { a: 1 };
    const held = new HeldSockets(ch, [['tcp:h:1', a], ['tcp:h:2', { b: 2 }]]);
    expect(held.kept).toBe(true);
    expect(held.take('tcp:h:1')).toBe(a);
    expect(held.take('tcp:h:1')).toBeNull();
    expect(held.releaseUntaken()).toEqual(['tcp:h:2']);
    expect(ch.sent).toEqual([[{ t: 'release', key: 'tcp:h:2' }, undefined]]);
    expect(held.take('tcp:h:2')).toBeNull();
  });

  it('sends a listening server\'s handle to hold, and nothing without a keeper or once the keeper is gone', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const ch = channel();
      new HeldSockets(ch).hold('k', server);
      expect(ch.sent).toHaveLength(1);
      expect(ch.sent[0]![0]).toEqual({ t: 'hold', key: 'k' });
      expect(ch.sent[0]![1]).toBe((server as unknown as { _handle: unknown })._handle);

      const none = HeldSockets.none();
      expect(none.kept).toBe(false);
      none.hold('k', server);
      none.release('k');
      none.ready();

      const gone = { connected: false, send: () => { throw new Error('must not send'); } };
      const orphan = new HeldSockets(gone);
      orphan.hold('k', server);
      orphan.ready();
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
