/**
 * `gangway audit verify [--file F] [--anchor ID:HASH]` and `gangway audit export [--file F]`:
 * check the hash-chained event log, and keep a copy of it an auditor can check without
 * Gangway's help.
 *
 * A broken chain exits 1 with the first bad event named — a finding, not an error of the
 * command, so it goes to stdout. (`--file`, not `--output`: `-o/--output` is the global
 * output format.)
 */
import { open, rename, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Option } from 'commander';
import type { Command } from 'commander';
import type { ChainVerdict } from '../../records/audit.js';
import { parseAnchor, readJsonLinesFile, verifyChain } from '../../records/audit.js';
import type { CliContext } from '../context.js';
import { action } from '../context.js';

/** Exit code of `audit verify` when the chain is broken. */
export const TAMPERED_EXIT_CODE = 1;

/** Registers `audit` with its subcommands `verify` and `export`. */
export function registerAudit(program: Command, ctx: CliContext): void {
  const audit = program.command('audit')
    .description('verify or export the tamper-evident event log');

  const verify = audit.command('verify')
    .description('check the event log\'s hash chain; exit 1 naming the first bad event when it is broken')
    .option('-f, --file <path>', 'check an export (JSON lines) here instead of asking the orchestrator')
    .option('--anchor <id:hash>', 'a head recorded earlier: the log must still hold that event with that hash')
    .action(action(ctx, async (opts: { file?: string; anchor?: string }) => {
      const anchor = opts.anchor === undefined ? undefined : parseAnchor(opts.anchor);
      const verdict = opts.file !== undefined
        ? await verifyChain(readJsonLinesFile(resolve(ctx.io.cwd, opts.file)), { anchor })
        : await (await ctx.client()).auditVerify({ anchor: opts.anchor });
      if (ctx.json()) ctx.printJson(verdict);
      else ctx.out(renderVerdict(verdict));
      return verdict.ok ? 0 : TAMPERED_EXIT_CODE;
    }));

  const exporter = audit.command('export')
    .description('write the event log as JSON lines (one event per line, with hash and prevHash)')
    .option('-f, --file <path>', 'write to this file instead of stdout (replaced only once the export is complete)')
    .action(action(ctx, async (opts: { file?: string }) => {
      const client = await ctx.client();
      if (opts.file === undefined) {
        await client.auditExport((chunk) => ctx.out(chunk));
        return 0;
      }
      const file = resolve(ctx.io.cwd, opts.file);
      const partial = `${file}.partial`;
      const handle = await open(partial, 'w', 0o600);
      let count = 0;
      try {
        await client.auditExport(async (chunk) => {
          for (let i = chunk.indexOf('\n'); i !== -1; i = chunk.indexOf('\n', i + 1)) count++;
          await handle.write(chunk);
        });
        await handle.sync();
      } catch (err) {
        await handle.close();
        await rm(partial, { force: true });
        throw err;
      }
      await handle.close();
      // Renamed only when whole: an interrupted export never looks like a complete one.
      await rename(partial, file);
      if (ctx.json()) ctx.printJson({ file, events: count });
      else ctx.out(`wrote ${count} event${count === 1 ? '' : 's'} to ${file}\n`);
      return 0;
    }));

  // Commander gives the global options to top-level commands only; these are one level down.
  for (const command of [verify, exporter]) {
    command
      .option('-C, --dir <path>', 'project folder (default: the current folder)')
      .option('-c, --config <file>', 'config file (default: gangway.yaml in the project folder or above)')
      .addOption(new Option('-o, --output <format>', 'output format (default: text)').choices(['text', 'json']))
      .option('--api <url>', 'orchestrator API address (default: GANGWAY_API, or server.host:port from the config)');
  }
  // `gangway audit -o json verify`: the context reads the program's and the subcommand's
  // options only, so hand down what was given between `audit` and the subcommand.
  audit.hook('preAction', (self, subcommand) => {
    for (const key of ['dir', 'config', 'output', 'api']) {
      const given: unknown = self.getOptionValue(key);
      if (given !== undefined && subcommand.getOptionValue(key) === undefined) subcommand.setOptionValue(key, given);
    }
  });
}

/** The text form of a verdict. */
export function renderVerdict(v: ChainVerdict): string {
  const lines: string[] = [];
  if (v.ok) {
    lines.push(`✓ event log intact: ${v.count} event${v.count === 1 ? '' : 's'}`);
    if (v.head) lines.push(`head: ${v.head.id}:${v.head.hash}`, '  (keep it somewhere Gangway cannot write; check against it later with --anchor)');
  } else {
    lines.push(`✗ event log broken: ${v.firstBad.reason}`);
    lines.push(`  ${v.count} event${v.count === 1 ? '' : 's'} before it intact`);
  }
  for (const g of v.gaps) {
    const missing = g.next - g.after - 1;
    lines.push(`note: ${missing === 1 ? `id ${g.after + 1} is` : `ids ${g.after + 1}–${g.next - 1} are`} missing between events ${g.after} and ${g.next}; the hashes link across (see docs/audit.md)`);
  }
  return `${lines.join('\n')}\n`;
}
