/**
 * `gangway user add <name> --role env=role,... [--password-stdin]`, `gangway user list`,
 * `gangway user remove <name>`: manage who may do what. They call the API, which needs a
 * global admin (the `.gangway/token` file is one).
 */
import { Option } from 'commander';
import type { Command } from 'commander';
import { parseRoleSpec, checkPassword, describeRoles } from '../../auth/users.js';
import { GangwayError } from '../../errors.js';
import type { Role } from '../../store/types.js';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { formatTime, table } from '../output.js';

/** A user as the API returns it. */
export interface UserView { name: string; roles: Record<string, Role>; hasPassword: boolean; createdAt: number }

/**
 * Reads a password from `input`: everything up to the first line break. Throws
 * `invalid_argument` when it is empty or too short.
 */
export async function readPassword(input: AsyncIterable<string | Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of input) {
    text += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    if (text.includes('\n') || text.length > 4096) break;
  }
  text += decoder.decode();
  const password = text.split(/\r?\n/, 1)[0];
  if (password === '') throw new GangwayError('invalid_argument', '--password-stdin: stdin held no password', 'e.g. printf %s "$PASSWORD" | gangway user add ana --role dev=deployer --password-stdin');
  checkPassword(password);
  return password;
}

/** Adds the global options to a command two levels down (commander gives them to top-level commands only). */
export function addSubcommandGlobals(command: Command): Command {
  return command
    .option('-C, --dir <path>', 'project folder (default: the current folder)')
    .option('-c, --config <file>', 'config file (default: gangway.yaml in the project folder or above)')
    .addOption(new Option('-o, --output <format>', 'output format (default: text)').choices(['text', 'json']))
    .option('--api <url>', 'orchestrator API address (default: GANGWAY_API, or server.host:port from the config)');
}

/** The users table. */
export function renderUsers(users: UserView[]): string {
  if (users.length === 0) return 'no users\n';
  return table(['NAME', 'ROLES', 'PASSWORD', 'CREATED'], users.map((u) => [u.name, describeRoles(u.roles), u.hasPassword ? 'yes' : 'no', formatTime(u.createdAt)]));
}

/** Registers `user` with its subcommands `add`, `list` and `remove`. */
export function registerUser(program: Command, ctx: CliContext): void {
  const user = program.command('user').description('manage users and their roles per environment (needs a global admin)');

  const add = user.command('add <name>')
    .description('add a user with roles (viewer, deployer, approver, admin) per environment; * is every environment')
    .requiredOption('-r, --role <env=role,...>', 'roles, e.g. dev=deployer,prod=viewer or *=admin')
    .option('--password-stdin', 'read a password (at least 10 characters) from stdin, to sign in to the dashboard')
    .action(action(ctx, async (name: string, opts: { role: string; passwordStdin?: boolean }) => {
      const roles = parseRoleSpec(opts.role);
      const password = opts.passwordStdin ? await readPassword(ctx.io.stdin ?? process.stdin) : undefined;
      const client = await ctx.client();
      const created = await client.request<UserView>('POST', '/v1/users', { name, roles, ...(password === undefined ? {} : { password }) });
      if (ctx.json()) ctx.printJson(created);
      else ctx.out(`added ${created.name}: ${describeRoles(created.roles)}${created.hasPassword ? '' : ' (no password: API tokens only)'}\n`);
      return 0;
    }));

  const list = user.command('list')
    .description('every user and their roles')
    .action(action(ctx, async () => {
      const users = await (await ctx.client()).request<UserView[]>('GET', '/v1/users');
      if (ctx.json()) ctx.printJson(users);
      else ctx.out(renderUsers(users));
      return 0;
    }));

  const remove = user.command('remove <name>')
    .description('remove a user: revokes its API tokens and ends its sessions')
    .action(action(ctx, async (name: string) => {
      const removed = await (await ctx.client()).request<UserView>('DELETE', `/v1/users/${encodeURIComponent(name)}`);
      if (ctx.json()) ctx.printJson(removed);
      else ctx.out(`removed ${removed.name}; its tokens are revoked and its sessions ended\n`);
      return 0;
    }));

  for (const command of [add, list, remove]) addSubcommandGlobals(command);
}
