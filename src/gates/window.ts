/**
 * Deployment windows: when an environment is open for deployments.
 *
 * An environment with windows is open at an instant when it is inside at least one `allow`
 * window (if it has any) and inside no `deny` window. Every window reads the wall clock of its
 * own IANA time zone, so "09:00–17:00" means 09:00–17:00 local on both sides of a DST change.
 *
 * Each occurrence of a window is one stretch of real time: it opens the first time the local
 * clock reaches its start and closes the first time the clock reaches its end. That one rule
 * settles the DST edge cases (docs/gates/windows.md has worked examples):
 * - a start or end inside the hour skipped when clocks go forward falls on the instant the clock
 *   jumps (02:30 on a spring-forward day in New York is 03:00 EDT); a window wholly inside the
 *   skipped hour does not happen that day;
 * - a start or end inside the hour repeated when clocks go back is its first occurrence; the
 *   second pass through that hour neither reopens a window that has closed nor closes one that
 *   is open.
 *
 * Local times come from `Intl.DateTimeFormat` (the time zone database of Node's ICU); no
 * dependencies.
 */
import { editDistance } from '../config/problems.js';
import type { EnvironmentConfig, GangwayConfig, WindowRange } from '../config/types.js';
import { GangwayError } from '../errors.js';
import type { Gate, GateRequest, GateResult } from './types.js';

/** The windows of one environment, as compiled from `gangway.yaml`. */
export type Windows = EnvironmentConfig['windows'];

/** What {@link evaluateWindows} says about one instant. */
export interface WindowEvaluation {
  /** Whether a deployment may start at this instant. */
  open: boolean;
  /**
   * One sentence naming the window that decides and the local time, e.g.
   * `closed: deny mon–fri 09:00–17:00 America/New_York (now Tue 10:15 EST)`.
   */
  reason: string;
  /** The earliest instant >= `at` when the environment is open; null when it does not open within {@link NEXT_OPEN_HORIZON_MS}. */
  nextOpen: number | null;
  /** Per-window state at this instant and a human rendering of `nextOpen`; JSON-serialisable. */
  evidence: Record<string, unknown>;
}

/** A mistake in a list of windows: `index` is the window's position in the list. */
export interface WindowProblem {
  index: number;
  message: string;
  hint?: string;
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/** How far ahead {@link evaluateWindows} looks for the next opening: 366 days. */
export const NEXT_OPEN_HORIZON_MS = 366 * DAY_MS;

/** Day names as written in `gangway.yaml`, Monday first (index 0). */
const DAY_NAMES = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const DAY_LABELS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;

const CLOCK = /^([01]\d|2[0-3]):([0-5]\d)$/;
const LOCAL_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T([01]\d|2[0-3]):([0-5]\d)$/;

// ---------------------------------------------------------------------------------------------
// Time zones

/** A date and time as read on a wall clock, encoded as if it were UTC ("wall milliseconds"). */
type WallMs = number;

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Throws RangeError for a time zone Intl does not know. */
function formatterFor(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23',
      year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

function isKnownZone(zone: string): boolean {
  try {
    formatterFor(zone);
    return true;
  } catch {
    return false;
  }
}

/**
 * One time zone for the length of one evaluation: wall-clock readings and offsets, with the
 * offsets remembered because enumerating a year of window occurrences asks for the same ones
 * again and again.
 */
class Zone {
  private readonly offsets = new Map<number, number>();
  readonly canonical: string;

  constructor(readonly name: string) {
    this.canonical = formatterFor(name).resolvedOptions().timeZone;
  }

  /** The wall-clock reading at `t`, to the second. */
  wallAt(t: number): WallMs {
    const second = Math.floor(t / 1000) * 1000;
    return second + this.offsetAt(second);
  }

  /** Milliseconds to add to UTC to get the wall clock, at `t`. */
  offsetAt(t: number): number {
    const second = Math.floor(t / 1000) * 1000;
    let offset = this.offsets.get(second);
    if (offset === undefined) {
      const p: Record<string, number> = {};
      for (const part of formatterFor(this.name).formatToParts(second)) {
        if (part.type !== 'literal') p[part.type] = Number(part.value);
      }
      offset = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - second;
      this.offsets.set(second, offset);
    }
    return offset;
  }

  /**
   * The first instant at which the wall clock reads `wall` or later, near that reading: the
   * instant itself when the reading happens once, its first occurrence when clocks go back
   * over it, and the instant the clock jumps when clocks go forward over it.
   */
  resolve(wall: WallMs): number {
    // The offsets a day either side are the ones in force before and after any change near
    // this reading (zones change offset at most once in any two days).
    const before = this.offsetAt(wall - DAY_MS);
    const after = this.offsetAt(wall + DAY_MS);
    if (before === after) return wall - before;
    const candidates = [wall - before, wall - after].filter((t) => this.wallAt(t) === wall);
    if (candidates.length > 0) return Math.min(...candidates);
    // Skipped reading: find the jump between the instant read with the old offset and the
    // one read with the new offset, to the second.
    let lo = Math.min(wall - before, wall - after);
    let hi = Math.max(wall - before, wall - after);
    const target = this.offsetAt(hi);
    while (hi - lo > 1000) {
      const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
      if (this.offsetAt(mid) === target) hi = mid;
      else lo = mid;
    }
    return hi;
  }

  /** The zone's short name at `t` (EST, EDT, GMT, BST, CET, GMT+5:30). */
  abbreviation(t: number): string {
    const us = shortName('en-US', this.name, t);
    if (!/^GMT[+-]/.test(us)) return us;
    // en-US knows American abbreviations only; en-GB knows the European ones (BST, CET).
    const gb = shortName('en-GB', this.name, t);
    return /^GMT[+-]/.test(gb) ? us : gb;
  }
}

const nameFormatters = new Map<string, Intl.DateTimeFormat>();

function shortName(locale: string, zone: string, t: number): string {
  const key = `${locale} ${zone}`;
  let f = nameFormatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(locale, { timeZone: zone, timeZoneName: 'short' });
    nameFormatters.set(key, f);
  }
  return f.formatToParts(t).find((p) => p.type === 'timeZoneName')?.value ?? zone;
}

function dayNumber(wall: WallMs): number {
  return Math.floor(wall / DAY_MS);
}

/** Monday = 0 for a day number counted from 1970-01-01 (a Thursday). */
function weekdayOf(day: number): number {
  return (((day + 3) % 7) + 7) % 7;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

function wallDate(wall: WallMs): string {
  const d = new Date(wall);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

function wallClock(wall: WallMs): string {
  const d = new Date(wall);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/** "Tue 10:15 EST", or with the date: "Thu 2026-12-24 10:15 GMT". */
function localTime(zone: Zone, t: number, withDate: boolean): string {
  const wall = zone.wallAt(t);
  const day = DAY_LABELS[weekdayOf(dayNumber(wall))];
  return `${day}${withDate ? ` ${wallDate(wall)}` : ''} ${wallClock(wall)} ${zone.abbreviation(t)}`;
}

function utcTime(t: number): string {
  return `${wallDate(t)} ${wallClock(t)} UTC`;
}

/** "Mon 2026-03-09 09:00 EDT (2026-03-09 13:00 UTC)"; every zone named when there are several. */
function renderInstant(zones: Zone[], t: number): string {
  const real = zones.filter((z) => z.abbreviation(t) !== 'UTC');
  if (real.length === 0) return `${DAY_LABELS[weekdayOf(dayNumber(t))]} ${utcTime(t)}`;
  if (real.length === 1) return `${localTime(real[0], t, true)} (${utcTime(t)})`;
  return `${real.map((z) => `${localTime(z, t, true)} ${z.name}`).join(', ')} (${utcTime(t)})`;
}

// ---------------------------------------------------------------------------------------------
// Parsing

type ParsedRange =
  | { kind: 'weekly'; days: boolean[]; from: number; to: number }
  | { kind: 'once'; start: WallMs; end: WallMs };

/** One allow or deny range of one window, ready to evaluate. */
interface Rule {
  index: number;
  kind: 'allow' | 'deny';
  zone: Zone;
  range: ParsedRange;
  /** "deny mon–fri 09:00–17:00 America/New_York". */
  text: string;
}

function parseClock(value: unknown, allow24: boolean): number | null {
  if (typeof value !== 'string') return null;
  if (allow24 && value === '24:00') return 24 * 60;
  const m = CLOCK.exec(value);
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
}

function parseLocalDateTime(value: unknown): WallMs | null {
  if (typeof value !== 'string') return null;
  const m = LOCAL_DATE_TIME.exec(value);
  if (!m) return null;
  const [y, mo, d, h, mi] = m.slice(1).map(Number);
  const wall = Date.UTC(y, mo - 1, d, h, mi);
  const check = new Date(wall);
  // Date.UTC rolls 2026-02-30 over into March; a date that does not round-trip does not exist.
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) return null;
  return wall;
}

function describeValue(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : value === undefined ? 'nothing' : String(value);
}

/** "mon–fri", "sat, sun", "mon, wed–fri", "every day". */
function daysText(days: boolean[]): string {
  if (days.every(Boolean)) return 'every day';
  const runs: string[] = [];
  for (let i = 0; i < 7; i++) {
    if (!days[i]) continue;
    let j = i;
    while (j + 1 < 7 && days[j + 1]) j++;
    if (j - i >= 2) runs.push(`${DAY_NAMES[i]}–${DAY_NAMES[j]}`);
    else for (let k = i; k <= j; k++) runs.push(DAY_NAMES[k]);
    i = j;
  }
  return runs.join(', ');
}

function minutesText(minutes: number): string {
  return `${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
}

function onceText(wall: WallMs): string {
  return `${wallDate(wall)} ${wallClock(wall)}`;
}

function rangeText(range: ParsedRange): string {
  return range.kind === 'weekly'
    ? `${daysText(range.days)} ${minutesText(range.from)}–${minutesText(range.to)}`
    : `${onceText(range.start)} → ${onceText(range.end)}`;
}

function parseRange(raw: WindowRange, index: number, problems: WindowProblem[]): ParsedRange | null {
  const r = raw as Partial<Record<'days' | 'from' | 'to' | 'start' | 'end', unknown>>;
  if ('days' in r || 'from' in r || 'to' in r) {
    let ok = true;
    const days = [false, false, false, false, false, false, false];
    if (!Array.isArray(r.days) || r.days.length === 0) {
      problems.push({ index, message: 'days is empty', hint: 'name at least one day, e.g. [mon, tue, wed, thu, fri]' });
      ok = false;
    } else {
      for (const d of r.days) {
        const i = DAY_NAMES.indexOf(d as (typeof DAY_NAMES)[number]);
        if (i < 0) {
          problems.push({ index, message: `unknown day ${describeValue(d)}`, hint: `days are ${DAY_NAMES.join(', ')}` });
          ok = false;
        } else {
          days[i] = true;
        }
      }
    }
    const from = parseClock(r.from, false);
    if (from === null) {
      problems.push({ index, message: `from must be a time of day "HH:MM", got ${describeValue(r.from)}`, hint: 'write it with two-digit hours, e.g. "09:00"' });
    }
    const to = parseClock(r.to, true);
    if (to === null) {
      problems.push({ index, message: `to must be a time of day "HH:MM" or "24:00", got ${describeValue(r.to)}`, hint: 'write it with two-digit hours, e.g. "17:00"' });
    }
    if (from === null || to === null || !ok) return null;
    if (from >= to) {
      problems.push({ index, message: `from ${r.from as string} must be before to ${r.to as string}`, hint: 'a range cannot pass midnight; split it into two windows' });
      return null;
    }
    return { kind: 'weekly', days, from, to };
  }
  if ('start' in r || 'end' in r) {
    const start = parseLocalDateTime(r.start);
    if (start === null) {
      problems.push({ index, message: `start must be a local date and time "YYYY-MM-DDTHH:MM", got ${describeValue(r.start)}`, hint: 'e.g. "2026-12-24T00:00"' });
    }
    const end = parseLocalDateTime(r.end);
    if (end === null) {
      problems.push({ index, message: `end must be a local date and time "YYYY-MM-DDTHH:MM", got ${describeValue(r.end)}`, hint: 'e.g. "2027-01-02T00:00"' });
    }
    if (start === null || end === null) return null;
    if (start >= end) {
      problems.push({ index, message: `start ${r.start as string} must be before end ${r.end as string}`, hint: 'swap start and end' });
      return null;
    }
    return { kind: 'once', start, end };
  }
  problems.push({ index, message: 'a range needs days, from and to (weekly) or start and end (one-off)', hint: 'e.g. { days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00" }' });
  return null;
}

function parseWindows(windows: Windows): { rules: Rule[]; problems: WindowProblem[] } {
  const rules: Rule[] = [];
  const problems: WindowProblem[] = [];
  windows.forEach((w, index) => {
    let zone: Zone | null = null;
    if (isKnownZone(w.timezone)) zone = new Zone(w.timezone);
    else problems.push({ index, message: `unknown time zone ${describeValue(w.timezone)}`, hint: zoneHint(w.timezone) });
    if (!w.allow && !w.deny) {
      problems.push({ index, message: 'a window has neither allow nor deny', hint: 'give it exactly one of allow, deny' });
    }
    for (const kind of ['allow', 'deny'] as const) {
      const raw = w[kind];
      if (!raw) continue;
      const range = parseRange(raw, index, problems);
      if (range && zone) rules.push({ index, kind, zone, range, text: `${kind} ${rangeText(range)} ${zone.name}` });
    }
  });
  return { rules, problems };
}

function zoneHint(zone: unknown): string {
  const fallback = 'use an IANA time zone name, e.g. "Europe/London" or "America/New_York"';
  if (typeof zone !== 'string' || zone === '') return fallback;
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const name of [...Intl.supportedValuesOf('timeZone'), 'UTC']) {
    const d = editDistance(zone.toLowerCase(), name.toLowerCase());
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return best !== null && bestDistance <= Math.max(2, Math.floor(zone.length / 4)) ? `did you mean "${best}"?` : fallback;
}

// ---------------------------------------------------------------------------------------------
// Intervals

interface Interval { start: number; end: number }

/** Every occurrence of `rule` that may touch [from, to], as instants (possibly a little more). */
function occurrences(rule: Rule, from: number, to: number): Interval[] {
  const { zone, range } = rule;
  if (range.kind === 'once') {
    const start = zone.resolve(range.start);
    const end = zone.resolve(range.end);
    return start < end ? [{ start, end }] : [];
  }
  const out: Interval[] = [];
  // A day either side: the wall date can step back a day when clocks go back at midnight, and
  // an occurrence on the day before may still be running.
  const first = dayNumber(zone.wallAt(from)) - 1;
  const last = dayNumber(zone.wallAt(to)) + 1;
  for (let day = first; day <= last; day++) {
    if (!range.days[weekdayOf(day)]) continue;
    const start = zone.resolve(day * DAY_MS + range.from * MINUTE_MS);
    const end = zone.resolve(day * DAY_MS + range.to * MINUTE_MS);
    if (start < end) out.push({ start, end });
  }
  return out;
}

/** Sorted, with overlapping and touching intervals merged. */
function union(intervals: Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  const out: Interval[] = [];
  for (const i of sorted) {
    const last = out[out.length - 1];
    if (last && i.start <= last.end) last.end = Math.max(last.end, i.end);
    else out.push({ ...i });
  }
  return out;
}

function contains(rule: Rule, at: number): boolean {
  return occurrences(rule, at, at).some((i) => i.start <= at && at < i.end);
}

/** The earliest x >= at inside `allow` (everything when null) and outside `deny`. */
function earliestOpen(allow: Interval[] | null, deny: Interval[], at: number): number | null {
  let x = at;
  let a = 0;
  let d = 0;
  for (;;) {
    if (allow) {
      while (a < allow.length && allow[a].end <= x) a++;
      if (a === allow.length) return null;
      if (allow[a].start > x) x = allow[a].start;
    }
    while (d < deny.length && deny[d].end <= x) d++;
    if (d === deny.length || deny[d].start > x) return x;
    x = deny[d].end;
  }
}

function nextOpenAfter(rules: Rule[], at: number): number | null {
  const allowRules = rules.filter((r) => r.kind === 'allow');
  const denyRules = rules.filter((r) => r.kind === 'deny');
  // Most closed environments open within days: look a week ahead before enumerating a year.
  for (const horizon of [8 * DAY_MS, NEXT_OPEN_HORIZON_MS + DAY_MS]) {
    const end = at + horizon;
    const allow = allowRules.length > 0 ? union(allowRules.flatMap((r) => occurrences(r, at, end))) : null;
    const deny = union(denyRules.flatMap((r) => occurrences(r, at, end)));
    const x = earliestOpen(allow, deny, at);
    // Beyond `end` the enumeration is incomplete: an answer there is not yet an answer.
    if (x !== null && x < end) return x - at <= NEXT_OPEN_HORIZON_MS ? x : null;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Whether an environment with these windows is open at `at` (epoch milliseconds), why, and
 * when it next opens. Open means: inside at least one `allow` window (when there are any) and
 * inside no `deny` window. `nextOpen` is exact to the minute boundary of the window that opens.
 *
 * Throws a `GangwayError` (`invalid_config`) when a window is malformed (see
 * {@link validateWindows}); the compiled config never holds one.
 *
 * @example
 * const r = evaluateWindows(
 *   [{ deny: { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00' }, timezone: 'America/New_York' }],
 *   Date.parse('2026-03-03T15:15:00Z'),
 * );
 * // r.open === false
 * // r.reason === 'closed: deny mon–fri 09:00–17:00 America/New_York (now Tue 10:15 EST)'
 * // r.nextOpen === Date.parse('2026-03-03T22:00:00Z')
 */
export function evaluateWindows(windows: Windows, at: number): WindowEvaluation {
  const { rules, problems } = parseWindows(windows);
  if (problems.length > 0) {
    const p = problems[0];
    throw new GangwayError('invalid_config', `windows[${p.index}]: ${p.message}`, p.hint, { problems });
  }
  const atIso = new Date(at).toISOString();
  if (rules.length === 0) {
    return { open: true, reason: 'open: no deployment windows', nextOpen: at, evidence: { at: atIso, windows: [], nextOpen: atIso } };
  }

  const state = rules.map((r) => ({ rule: r, inside: contains(r, at) }));
  const now = (r: Rule): string => `now ${localTime(r.zone, at, r.range.kind === 'once')}`;
  const named = (r: Rule): string => `${r.text} (${now(r)})`;
  const allows = state.filter((s) => s.rule.kind === 'allow');
  const denies = state.filter((s) => s.rule.kind === 'deny');
  const allowing = allows.find((s) => s.inside);
  const denying = denies.find((s) => s.inside);

  let open: boolean;
  let reason: string;
  if (denying) {
    open = false;
    reason = `closed: ${named(denying.rule)}`;
  } else if (allows.length > 0 && !allowing) {
    open = false;
    reason = `closed: outside ${allows.map((s) => named(s.rule)).join(' and ')}`;
  } else {
    open = true;
    const parts: string[] = [];
    if (allowing) parts.push(`inside ${named(allowing.rule)}`);
    if (denies.length > 0) parts.push(`outside ${denies.map((s) => named(s.rule)).join(' and ')}`);
    reason = `open: ${parts.join('; ')}`;
  }

  const nextOpen = open ? at : nextOpenAfter(rules, at);
  const zones = uniqueZones(rules);
  return {
    open,
    reason,
    nextOpen,
    evidence: {
      at: atIso,
      windows: state.map(({ rule, inside }) => ({
        index: rule.index,
        kind: rule.kind,
        window: rule.text,
        timezone: rule.zone.name,
        inside,
        localTime: localTime(rule.zone, at, true),
      })),
      nextOpen: nextOpen === null ? null : new Date(nextOpen).toISOString(),
      nextOpenText: nextOpen === null ? 'does not open within 366 days' : renderInstant(zones, nextOpen),
    },
  };
}

function uniqueZones(rules: Rule[]): Zone[] {
  const seen = new Map<string, Zone>();
  for (const r of rules) if (!seen.has(r.zone.canonical)) seen.set(r.zone.canonical, r.zone);
  return [...seen.values()];
}

/**
 * Mistakes in a list of windows, in window order: unknown time zones, malformed or inverted
 * ranges (`from` >= `to`, `start` >= `end`), a window with neither `allow` nor `deny`, and two
 * weekly (or two one-off) ranges of the same kind in the same time zone that overlap. A weekly
 * and a one-off range may overlap: a holiday freeze over the usual business-hours deny is
 * intended. An overlap is reported on the later window. Never throws.
 *
 * @example
 * validateWindows([
 *   { allow: { days: ['mon'], from: '09:00', to: '11:00' }, timezone: 'UTC' },
 *   { allow: { days: ['mon', 'tue'], from: '10:00', to: '12:00' }, timezone: 'UTC' },
 * ]);
 * // [{ index: 1, message: 'windows 0 and 1 overlap on mon 10:00–11:00', hint: 'merge them into one window, or let one end where the other starts' }]
 */
export function validateWindows(windows: Windows): WindowProblem[] {
  const { rules, problems } = parseWindows(windows);
  for (let j = 0; j < rules.length; j++) {
    for (let i = 0; i < j; i++) {
      const a = rules[i];
      const b = rules[j];
      if (a.index === b.index || a.kind !== b.kind || a.zone.canonical !== b.zone.canonical) continue;
      const where = overlap(a.range, b.range);
      if (where) {
        problems.push({ index: b.index, message: `windows ${a.index} and ${b.index} overlap ${where}`, hint: 'merge them into one window, or let one end where the other starts' });
      }
    }
  }
  return problems.sort((p, q) => p.index - q.index);
}

function overlap(a: ParsedRange, b: ParsedRange): string | null {
  if (a.kind === 'weekly' && b.kind === 'weekly') {
    const days = a.days.map((d, i) => d && b.days[i]);
    const from = Math.max(a.from, b.from);
    const to = Math.min(a.to, b.to);
    return days.some(Boolean) && from < to ? `on ${daysText(days)} ${minutesText(from)}–${minutesText(to)}` : null;
  }
  if (a.kind === 'once' && b.kind === 'once') {
    const start = Math.max(a.start, b.start);
    const end = Math.min(a.end, b.end);
    return start < end ? `from ${onceText(start)} to ${onceText(end)}` : null;
  }
  return null;
}

/**
 * The `window` gate: a deployment starts only while its environment is open. Passes when open,
 * waits until the next opening when closed, fails when the environment does not open within
 * 366 days (a deployment should not wait a year).
 *
 * @example
 * const gate = new WindowGate(config);
 * if (gate.applies(config, 'prod')) {
 *   const r = await gate.evaluate({ ...request, environment: 'prod', now: Date.now() });
 *   // { gate: 'window', result: 'wait', until: 1773176400000,
 *   //   reason: 'closed: deny mon–fri 09:00–17:00 America/New_York (now Tue 10:15 EDT); opens Tue 2026-03-10 17:00 EDT (2026-03-10 21:00 UTC)', … }
 * }
 */
export class WindowGate implements Gate {
  readonly name = 'window' as const;

  constructor(private readonly config: GangwayConfig) {}

  /** True when the environment has at least one window. */
  applies(config: GangwayConfig, environment: string): boolean {
    return (config.environments.find((e) => e.name === environment)?.windows.length ?? 0) > 0;
  }

  /** Evaluates the environment's windows at `req.now`. Never throws. Idempotent. */
  async evaluate(req: GateRequest): Promise<GateResult> {
    const env = this.config.environments.find((e) => e.name === req.environment);
    if (!env || env.windows.length === 0) {
      return { gate: 'window', result: 'pass', reason: `open: environment ${req.environment} has no deployment windows`, evidence: { at: new Date(req.now).toISOString(), windows: [] } };
    }
    let r: WindowEvaluation;
    try {
      r = evaluateWindows(env.windows, req.now);
    } catch (err) {
      if (!(err instanceof GangwayError)) throw err;
      return {
        gate: 'window', result: 'fail', reason: `invalid deployment windows in environment ${env.name}: ${err.message}`,
        ...(err.hint ? { hint: err.hint } : {}), evidence: { at: new Date(req.now).toISOString(), ...err.details },
      };
    }
    if (r.open) return { gate: 'window', result: 'pass', reason: r.reason, evidence: r.evidence };
    if (r.nextOpen !== null) {
      return { gate: 'window', result: 'wait', until: r.nextOpen, reason: `${r.reason}; opens ${String(r.evidence.nextOpenText)}`, evidence: r.evidence };
    }
    const expedite = env.expedited?.skip.includes('window') ? ', or deploy with --expedited (this environment lets it skip the window gate)' : '';
    return {
      gate: 'window', result: 'fail', reason: `${r.reason}; does not open within 366 days`,
      hint: `change the windows of environment ${env.name} in gangway.yaml${expedite}`, evidence: r.evidence,
    };
  }
}
