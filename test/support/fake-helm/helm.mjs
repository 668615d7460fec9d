#!/usr/bin/env node
/**
 * A FAKE `helm` (Helm 3 argv, outputs, exit codes and release storage) for Gangway's tests,
 * run through the `helm` wrapper next to it; no real Helm can be installed on the test machines.
 * It talks to the FAKE Kubernetes API server (../fake-kube/) through a kubeconfig, renders charts
 * with the shared FAKE renderer (../chart-render.ts), and stores releases exactly as Helm 3's
 * Secrets driver does. See README.md for the commands, flags and the fault-injection variables:
 *
 * - `FAKE_HELM_LOG=<file>`: appends this run's argv (without the program) as one JSON line;
 * - `FAKE_HELM_DELAY_MS=<n>`: sleeps before doing anything else;
 * - `FAKE_HELM_FAIL=<command>[,<command>…]` (or `*`): those commands fail at once, touching
 *   nothing, with `FAKE_HELM_FAIL_STDERR` (default `Error: injected failure …`) and
 *   `FAKE_HELM_FAIL_EXIT` (default 1).
 */
import { appendFileSync } from 'node:fs';
import { commandIndex, main } from './cli.mjs';

const argv = process.argv.slice(2);
const io = {
  stdout: (s) => { process.stdout.write(s); },
  stderr: (s) => { process.stderr.write(s); },
};

if (process.env.FAKE_HELM_LOG) appendFileSync(process.env.FAKE_HELM_LOG, `${JSON.stringify(argv)}\n`);

const delay = Number(process.env.FAKE_HELM_DELAY_MS);
if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));

const failing = (process.env.FAKE_HELM_FAIL ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
const command = argv[commandIndex(argv)];
if (failing.includes('*') || (command !== undefined && failing.includes(command))) {
  const text = process.env.FAKE_HELM_FAIL_STDERR ?? `Error: injected failure of "helm ${command ?? ''}" (FAKE_HELM_FAIL)`;
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  process.exit(Number(process.env.FAKE_HELM_FAIL_EXIT ?? 1));
}

// Pipes and files are written synchronously on Linux, so exiting here loses no output; it also
// ends kept-alive connections and a still-running background step, as Helm's process exit does.
process.exit(await main(argv, io));
