/**
 * Whole-file checks of the gate settings: approval groups against `groups`, overlapping
 * windows, signature keys on disk, registry secrets in the environment. They run once every
 * value is well-formed.
 */
import { validateWindows } from '../gates/window.js';
import { compileWindows } from './compile.js';
import { envValue } from './integrations.js';
import { readPublicKey } from './keys.js';
import { backquote, didYouMean, listNames } from './problems.js';
import type { PathSegment, RawProblem } from './problems.js';
import type { RawConfig, RawEnvironment } from './schema.js';

/**
 * Gate checks that need more than one value: every approval group declared and able to give
 * the approvals asked for, no two windows of one kind overlapping, signature keys readable,
 * registry secrets set.
 */
export function checkGates(raw: RawConfig, rootDir: string, env: Readonly<Record<string, string | undefined>>): RawProblem[] {
  const problems: RawProblem[] = [];
  const groups = raw.groups ?? {};
  for (const [name, environment] of Object.entries(raw.environments)) {
    const at: PathSegment[] = ['environments', name];
    checkApprovals(environment, groups, at, problems);
    // The window gate owns what windows mean, so it also says which ones overlap.
    for (const p of validateWindows(compileWindows(environment.windows ?? []))) {
      problems.push({ path: [...at, 'windows', p.index], at: 'value', message: p.message, ...(p.hint ? { hint: p.hint } : {}) });
    }
    const publicKey = environment.image?.signature?.publicKey;
    if (publicKey !== undefined) {
      const key = readPublicKey(publicKey, rootDir);
      if (!key.ok) problems.push({ path: [...at, 'image', 'signature', 'publicKey'], at: 'value', message: key.message, hint: key.hint });
    }
  }
  (raw.registries ?? []).forEach((registry, i) => {
    for (const [key, what] of [['passwordFromEnv', 'password'], ['tokenFromEnv', 'token']] as const) {
      const variable = registry[key];
      if (variable === undefined || envValue(env, variable)) continue;
      // The variable's name only: its value, when there is one, is a secret.
      problems.push({
        path: ['registries', i, key], at: 'value',
        message: `environment variable ${variable} is not set`,
        hint: `set ${variable} to the ${what} for ${registry.host} before starting gangway`,
      });
    }
  });
  return problems;
}

function checkApprovals(environment: RawEnvironment, groups: Record<string, string[]>, at: PathSegment[], problems: RawProblem[]): void {
  const approvals = environment.approvals;
  if (!approvals) return;
  const declared = Object.keys(groups);
  let allKnown = true;
  approvals.groups.forEach((group, i) => {
    if (Object.hasOwn(groups, group)) return;
    allKnown = false;
    problems.push({
      path: [...at, 'approvals', 'groups', i], at: 'value',
      message: `unknown group ${backquote(group)}`,
      suggest: () => {
        const guess = didYouMean(group, declared);
        return guess ? `did you mean \`${guess}\`?`
          : declared.length > 0 ? `groups: ${listNames(declared)}`
            : `declare it with its members under the top-level groups, e.g. \`groups: { ${group}: [alice, bob] }\``;
      },
    });
  });
  if (!allKnown) return;
  const members = new Set(approvals.groups.flatMap((group) => groups[group]));
  if (approvals.required <= members.size) return;
  const names = approvals.groups.length === 1 ? approvals.groups[0] : `${approvals.groups.slice(0, -1).join(', ')} and ${approvals.groups[approvals.groups.length - 1]}`;
  const count = `${members.size} member${members.size === 1 ? '' : 's'}`;
  problems.push({
    path: [...at, 'approvals', 'required'], at: 'value',
    message: approvals.groups.length === 1
      ? `${approvals.required} approvals required but ${names} has ${count}`
      : `${approvals.required} approvals required but ${names} have ${count} between them`,
    hint: `no deployment could ever be approved: lower required to ${members.size}, or add people to ${approvals.groups.length === 1 ? names : 'the groups'}`,
  });
}
