/**
 * Whole-file checks of records, notifications and migrations: the records repository is a git
 * repository, and every secret they name through an environment variable is set (and, for a
 * URL, is one). compile.ts reads the same secrets through {@link readSecret}, so `gangway
 * validate` and loading agree on what is missing. No message ever shows a secret's value.
 */
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { PathSegment, RawProblem } from './problems.js';
import { isHttpUrl } from './schema.js';
import type { RawConfig, RawMigrations, RawNotifier, RawRecords, RawServiceSettings } from './schema.js';

/** A secret the file names by its environment variable: where the name is written, and what the value must be. */
export interface SecretRef {
  /** Key path of the `…FromEnv` key. */
  path: PathSegment[];
  variable: string;
  /** What the variable holds, completing "set X to …". */
  what: string;
  /** A URL kind the value must be; absent for tokens and signing secrets. */
  format?: 'http' | 'postgres';
}

/**
 * The value of the environment variable `name`, if set. Only the environment's own variables
 * count: a variable named `constructor` or `toString` is unset unless it is really there.
 *
 * @example
 * envValue({ DATABASE_URL: 'postgres://…' }, 'DATABASE_URL'); // 'postgres://…'
 * envValue({}, 'constructor'); // undefined
 */
export function envValue(env: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  if (!Object.hasOwn(env, name)) return undefined;
  const value = env[name];
  return typeof value === 'string' ? value : undefined;
}

/** A secret's value, or why it cannot be used (naming the variable only). */
export type SecretResult = { ok: true; value: string } | { ok: false; message: string; hint: string };

/**
 * Reads a secret from `env`. An unset or empty variable, or a URL of the wrong kind, is a
 * problem that names the variable and never its value.
 *
 * @example
 * readSecret({ path: ['notifications', 0, 'slack', 'urlFromEnv'], variable: 'SLACK_URL', what: 'the URL', format: 'http' }, { SLACK_URL: 'https://hooks.slack.com/…' });
 * // { ok: true, value: 'https://hooks.slack.com/…' }
 */
export function readSecret(ref: SecretRef, env: Readonly<Record<string, string | undefined>>): SecretResult {
  const value = envValue(env, ref.variable);
  if (!value) return { ok: false, message: `environment variable ${ref.variable} is not set`, hint: `set ${ref.variable} to ${ref.what} before starting gangway` };
  const wrong = (kind: string): SecretResult => ({
    ok: false,
    message: `environment variable ${ref.variable} does not hold ${kind} URL`,
    hint: `set it to ${ref.what} (its value is not shown here: it may be a secret)`,
  });
  if (ref.format === 'http' && !isHttpUrl(value)) return wrong('an http:// or https://');
  if (ref.format === 'postgres' && !/^postgres(?:ql)?:\/\//.test(value)) return wrong('a postgres://');
  return { ok: true, value };
}

/** The secrets notifier `index` names, in the order its keys are read. */
export function notifierSecrets(n: RawNotifier, index: number): SecretRef[] {
  const at = (kind: string, key: string): PathSegment[] => ['notifications', index, kind, key];
  const refs: SecretRef[] = [];
  if (n.webhook?.urlFromEnv !== undefined) {
    refs.push({ path: at('webhook', 'urlFromEnv'), variable: n.webhook.urlFromEnv, what: `the URL notifier ${n.name} posts to`, format: 'http' });
  }
  if (n.webhook?.secretFromEnv !== undefined) {
    refs.push({ path: at('webhook', 'secretFromEnv'), variable: n.webhook.secretFromEnv, what: `the secret that signs notifier ${n.name}'s requests` });
  }
  if (n.slack?.urlFromEnv !== undefined) {
    refs.push({ path: at('slack', 'urlFromEnv'), variable: n.slack.urlFromEnv, what: `the incoming webhook URL of notifier ${n.name}`, format: 'http' });
  }
  if (n.github) {
    refs.push({ path: at('github', 'tokenFromEnv'), variable: n.github.tokenFromEnv, what: `a token that may create deployments in ${n.github.repo}` });
  }
  return refs;
}

/** The secrets a service's (merged) migrations name; paths are relative to `migrations`. */
export function migrationSecrets(m: RawMigrations): SecretRef[] {
  const refs: SecretRef[] = [];
  const pgDump = m.backup?.pgDump;
  if (pgDump?.urlFromEnv !== undefined) {
    refs.push({ path: ['backup', 'pgDump', 'urlFromEnv'], variable: pgDump.urlFromEnv, what: 'the postgres:// URL of the database to back up', format: 'postgres' });
  }
  const sql = m.validate?.sql;
  if (sql?.urlFromEnv !== undefined) {
    refs.push({ path: ['validate', 'sql', 'urlFromEnv'], variable: sql.urlFromEnv, what: 'the postgres:// URL of the database to validate', format: 'postgres' });
  }
  return refs;
}

/**
 * Checks that need the file system or the environment: the records repository, and the
 * secrets of notifiers and of each service's migrations in every environment. `merged` holds
 * each service's settings per environment, overrides merged (those that validated);
 * `has` tells whether the document has a key path, so that a problem points where its key is
 * written: in an environment's overrides or on the service.
 */
export function checkIntegrations(
  raw: RawConfig,
  merged: ReadonlyMap<string, ReadonlyMap<string, RawServiceSettings>>,
  rootDir: string,
  env: Readonly<Record<string, string | undefined>>,
  has: (path: readonly PathSegment[]) => boolean,
): RawProblem[] {
  const problems: RawProblem[] = [];
  if (raw.records) {
    const problem = checkRecordsRepo(raw.records, rootDir);
    if (problem) problems.push(problem);
  }
  (raw.notifications ?? []).forEach((n, i) => {
    for (const ref of notifierSecrets(n, i)) {
      const secret = readSecret(ref, env);
      if (!secret.ok) problems.push({ path: ref.path, at: 'value', message: secret.message, hint: secret.hint });
    }
  });
  for (const [service, perEnv] of merged) {
    for (const [environment, settings] of perEnv) {
      if (!settings.migrations) continue;
      for (const ref of migrationSecrets(settings.migrations)) {
        const secret = readSecret(ref, env);
        if (secret.ok) continue;
        const inOverride = ['services', service, 'environments', environment, 'migrations', ...ref.path];
        const path = has(inOverride) ? inOverride : ['services', service, 'migrations', ...ref.path];
        // Environments that share the service's key share one problem (load.ts drops repeats).
        problems.push({ path, at: 'value', message: secret.message, hint: secret.hint });
      }
    }
  }
  return problems;
}

/** The records repository must be a folder with a `.git` entry (a folder, or a file in a worktree). */
function checkRecordsRepo(records: RawRecords, rootDir: string): RawProblem | undefined {
  const repo = resolve(rootDir, records.repo);
  const problem = (message: string, hint: string): RawProblem => ({ path: ['records', 'repo'], at: 'value', message, hint });
  const stat = statSync(repo, { throwIfNoEntry: false });
  if (!stat) {
    return problem(`${repo} does not exist`, 'create the folder and run `git init` in it, or give the folder of an existing git repository (relative to the folder of gangway.yaml)');
  }
  if (!stat.isDirectory()) return problem(`${repo} is a file, not a folder`, 'give the folder of a git repository, relative to the folder of gangway.yaml');
  if (!statSync(join(repo, '.git'), { throwIfNoEntry: false })) {
    return problem(`${repo} is not a git repository (it has no .git)`, 'run `git init` in it, or give the top folder of an existing repository');
  }
  return undefined;
}
