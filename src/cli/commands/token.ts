/**
 * `gangway token create [--user U] [--name N] [--expires-in-days D]`, `gangway token list
 * [--user U]`, `gangway token revoke <id>`: API tokens for CI jobs and people. They call the
 * API, which needs a global admin. A new token's secret is printed once, alone on stdout,
 * so `gangway token create --user ci > ci.token` keeps it and nothing else.
 */
import type { Command } from 'commander';
import type { ApiTokenView } from '../../auth/tokens.js';
import { GangwayError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { formatTime, table } from '../output.js';
import { addSubcommandGlobals } from './user.js';

/** The tokens table. */
export function renderTokens(tokens: ApiTokenView[]): string {
  if (tokens.length === 0) return 'no tokens\n';
  const when = (t: number | null) => (t === null ? '-' : formatTime(t));
  return table(['ID', 'NAME', 'USER', 'CREATED', 'LAST USED', 'EXPIRES', 'REVOKED'],
    tokens.map((t) => [t.id, t.name, t.owner, formatTime(t.createdAt), when(t.lastUsedAt), t.expiresAt === null ? 'never' : formatTime(t.expiresAt), when(t.revokedAt)]));
}

/** Registers `token` with its subcommands `create`, `list` and `revoke`. */
export function registerToken(program: Command, ctx: CliContext): void {
  const token = program.command('token').description('manage API tokens (needs a global admin)');

  const create = token.command('create')
    .description('create an API token; its secret is printed once, on stdout')
    .option('-u, --user <name>', 'the user it acts for (default: you)')
    .option('-n, --name <name>', 'what it is for, e.g. ci-deploy', 'default')
    .option('--expires-in-days <days>', 'expire after this many days (default: never)')
    .action(action(ctx, async (opts: { user?: string; name: string; expiresInDays?: string }) => {
      let expiresInDays: number | undefined;
      if (opts.expiresInDays !== undefined) {
        expiresInDays = Number(opts.expiresInDays);
        if (!/^\d+$/.test(opts.expiresInDays) || expiresInDays < 1) throw new GangwayError('invalid_argument', `--expires-in-days: "${opts.expiresInDays}" is not a whole number of days`);
      }
      const created = await (await ctx.client()).request<ApiTokenView & { token: string }>('POST', '/v1/tokens', {
        ...(opts.user === undefined ? {} : { user: opts.user }), name: opts.name, ...(expiresInDays === undefined ? {} : { expiresInDays }),
      });
      if (ctx.json()) {
        ctx.printJson(created);
      } else {
        ctx.out(`${created.token}\n`);
        ctx.err(`created token ${created.id} (${created.name}) for ${created.owner}${created.expiresAt === null ? '' : `, expires ${formatTime(created.expiresAt)}`}\n`
          + 'it is shown only this once: keep it in a secret store; revoke it with: gangway token revoke ' + created.id + '\n');
      }
      return 0;
    }));

  const list = token.command('list')
    .description('every API token, revoked ones too (never the secrets)')
    .option('-u, --user <name>', 'only tokens of this user')
    .action(action(ctx, async (opts: { user?: string }) => {
      const tokens = await (await ctx.client()).request<ApiTokenView[]>('GET', '/v1/tokens', undefined, { user: opts.user });
      if (ctx.json()) ctx.printJson(tokens);
      else ctx.out(renderTokens(tokens));
      return 0;
    }));

  const revoke = token.command('revoke <id>')
    .description('revoke an API token at once; sessions signed in with it end too')
    .action(action(ctx, async (id: string) => {
      const revoked = await (await ctx.client()).request<ApiTokenView>('DELETE', `/v1/tokens/${encodeURIComponent(id)}`);
      if (ctx.json()) ctx.printJson(revoked);
      else ctx.out(`revoked ${revoked.id} (${revoked.name}) of ${revoked.owner}\n`);
      return 0;
    }));

  for (const command of [create, list, revoke]) addSubcommandGlobals(command);
}
