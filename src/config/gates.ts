/**
 * Whole-file checks of the gate settings — approval groups against `groups`, window overlaps,
 * signature keys on disk, registry secrets in the environment — and reading a cosign public
 * key, which load.ts (for problems) and compile.ts (for the compiled key) share.
 */
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { didYouMean } from './problems.js';
import type { PathSegment, RawProblem } from './problems.js';
import { DEFAULTS } from './schema.js';
import type { RawConfig, RawEnvironment } from './schema.js';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/;

/** A public key read for `image.signature.publicKey`, or why it cannot be used. */
export type PublicKeyResult = { ok: true; pem: string } | { ok: false; message: string; hint: string };

/**
 * Reads a cosign public key: `value` is PEM text itself (it holds `-----BEGIN`) or a path,
 * relative to `rootDir`, of a file holding it. Refuses private keys, which never belong in a
 * config, and anything Node cannot parse as a public key.
 *
 * @example
 * const key = readPublicKey('keys/cosign.pub', '/srv/shop');
 * if (key.ok) key.pem; // '-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----\n'
 */
export function readPublicKey(value: string, rootDir: string): PublicKeyResult {
  const inline = value.includes('-----BEGIN');
  const what = inline ? 'the inline key' : value;
  let text = value;
  if (!inline) {
    try {
      text = readFileSync(resolve(rootDir, value), 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return {
        ok: false,
        message: `cannot read ${value}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not a file' : (err as Error).message}`,
        hint: 'give the path of the cosign public key (cosign.pub) relative to the folder of gangway.yaml, or the PEM text itself',
      };
    }
  }
  const block = PEM_BLOCK.exec(text);
  if (block && block[1].includes('PRIVATE KEY')) {
    return {
      ok: false,
      message: `${what} holds a private key`,
      hint: 'give the public key (cosign.pub); a private key does not belong next to the config',
    };
  }
  if (!block || !block[1].endsWith('PUBLIC KEY')) {
    return {
      ok: false,
      message: `${what} does not hold a PEM public key`,
      hint: 'a cosign public key starts with -----BEGIN PUBLIC KEY----- (cosign generate-key-pair writes it to cosign.pub)',
    };
  }
  try {
    createPublicKey(block[0]);
  } catch (err) {
    return {
      ok: false,
      message: `${what} holds a PEM block that is not a valid public key (${(err as Error).message})`,
      hint: 'export the key again with cosign public-key --key <private key> > cosign.pub',
    };
  }
  return { ok: true, pem: `${block[0]}\n` };
}

/**
 * Gate checks that need more than one value: every approval group declared and able to give
 * the approvals asked for, windows that never overlap pointlessly or close for good, signature
 * keys readable, registry secrets set.
 */
export function checkGates(raw: RawConfig, rootDir: string, env: Readonly<Record<string, string | undefined>>): RawProblem[] {
  const problems: RawProblem[] = [];
  const groups = raw.groups ?? {};
  for (const [name, environment] of Object.entries(raw.environments)) {
    const at: PathSegment[] = ['environments', name];
    checkApprovals(environment, groups, at, problems);
    checkWindowOverlaps(environment.windows ?? [], [...at, 'windows'], problems);
    const publicKey = environment.image?.signature?.publicKey;
    if (publicKey !== undefined) {
      const key = readPublicKey(publicKey, rootDir);
      if (!key.ok) problems.push({ path: [...at, 'image', 'signature', 'publicKey'], at: 'value', message: key.message, hint: key.hint });
    }
  }
  (raw.registries ?? []).forEach((registry, i) => {
    for (const [key, what] of [['passwordFromEnv', 'password'], ['tokenFromEnv', 'token']] as const) {
      const variable = registry[key];
      if (variable === undefined || env[variable]) continue;
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
    const guess = didYouMean(group, declared);
    problems.push({
      path: [...at, 'approvals', 'groups', i], at: 'value',
      message: `unknown group \`${group}\``,
      hint: guess ? `did you mean \`${guess}\`?`
        : declared.length > 0 ? `groups: ${declared.join(', ')}`
          : `declare it with its members under the top-level groups, e.g. \`groups: { ${group}: [alice, bob] }\``,
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

type RawWindow = NonNullable<RawEnvironment['windows']>[number];
type RawRange = NonNullable<RawWindow['allow']>;

/** The minutes of the week (Monday 00:00 = 0) a weekly range covers, as [start, end) spans. */
function weeklySpans(r: RawRange): Array<[number, number]> {
  const days = r.days ?? DEFAULTS.days;
  const [from, to] = [minutes(r.from ?? '00:00'), minutes(r.to ?? '24:00')];
  return DEFAULTS.days.flatMap((day, i) => (days.includes(day) ? [[i * 1440 + from, i * 1440 + to] as [number, number]] : []));
}

function minutes(clock: string): number {
  const [h, m] = clock.split(':').map(Number);
  return h * 60 + m;
}

function rangesMeet(a: RawRange, b: RawRange): boolean {
  if (a.start !== undefined && b.start !== undefined) {
    // "YYYY-MM-DDTHH:MM" strings order as the times they name.
    return a.start < (b.end ?? '') && b.start < (a.end ?? '');
  }
  return weeklySpans(a).some(([s1, e1]) => weeklySpans(b).some(([s2, e2]) => s1 < e2 && s2 < e1));
}

/**
 * Two deny windows that overlap say the same thing twice (likely a copy-paste slip); two allow
 * windows with no time in common close the environment for good, since a deployment must be
 * inside every allow window. Only windows of the same shape (weekly or one-off) in the same
 * time zone are compared; across zones or shapes the gate itself decides at run time.
 */
function checkWindowOverlaps(windows: readonly RawWindow[], at: PathSegment[], problems: RawProblem[]): void {
  windows.forEach((w, j) => {
    const kind = w.allow ? 'allow' : 'deny';
    const range = w.allow ?? w.deny;
    if (!range) return;
    for (let i = 0; i < j; i++) {
      const other = windows[i];
      const otherRange = other[kind];
      if (!otherRange || (other.timezone ?? DEFAULTS.timezone) !== (w.timezone ?? DEFAULTS.timezone)) continue;
      if ((otherRange.start === undefined) !== (range.start === undefined)) continue;
      const meet = rangesMeet(otherRange, range);
      if (kind === 'deny' && meet) {
        problems.push({
          path: [...at, j], at: 'value', message: `deny window overlaps windows[${i}]`,
          hint: 'merge the two into one deny window, or remove one',
        });
        return;
      }
      if (kind === 'allow' && !meet) {
        problems.push({
          path: [...at, j], at: 'value', message: `allow window has no time in common with windows[${i}]`,
          hint: 'a deployment must be inside every allow window, so none could ever start; merge them into one allow window',
        });
        return;
      }
    }
  });
}
