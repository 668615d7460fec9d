import { describe, expect, it } from 'vitest';
import type { EnvironmentConfig, GangwayConfig } from '../config/types.js';
import { GangwayError } from '../errors.js';
import type { GateRequest } from './types.js';
import { evaluateWindows, validateWindows, WindowGate, type Windows } from './window.js';

const NY = 'America/New_York';
const LONDON = 'Europe/London';
const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri'];
const EVERY_DAY = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

const t = (iso: string): number => Date.parse(iso);
const DAY = 86_400_000;
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The runbook's rule: production is blocked during business hours, 9 AM – 5 PM EST, Monday–Friday. */
const BUSINESS_HOURS_DENY: Windows = [{ deny: { days: WEEKDAYS, from: '09:00', to: '17:00' }, timezone: NY }];

function allow(days: string[], from: string, to: string, timezone: string): Windows[number] {
  return { allow: { days, from, to }, timezone };
}

function deny(days: string[], from: string, to: string, timezone: string): Windows[number] {
  return { deny: { days, from, to }, timezone };
}

/** `[open, nextOpen as ISO]` at each instant. */
function openings(windows: Windows, instants: string[]): Array<[string, boolean, string | null]> {
  return instants.map((at) => {
    const r = evaluateWindows(windows, t(at));
    return [at, r.open, iso(r.nextOpen)];
  });
}

describe('evaluateWindows: weekly windows', () => {
  it('is open with no windows at all', () => {
    expect(evaluateWindows([], t('2026-03-03T15:15:00Z'))).toEqual({
      open: true, reason: 'open: no deployment windows', nextOpen: t('2026-03-03T15:15:00Z'),
      evidence: { at: '2026-03-03T15:15:00.000Z', windows: [], nextOpen: '2026-03-03T15:15:00.000Z' },
    });
  });

  it('closes a weekday inside a deny window and names the window and the local time', () => {
    expect(evaluateWindows(BUSINESS_HOURS_DENY, t('2026-03-03T15:15:00Z'))).toEqual({
      open: false,
      reason: 'closed: deny mon–fri 09:00–17:00 America/New_York (now Tue 10:15 EST)',
      nextOpen: t('2026-03-03T22:00:00Z'),
      evidence: {
        at: '2026-03-03T15:15:00.000Z',
        windows: [{
          index: 0, kind: 'deny', window: 'deny mon–fri 09:00–17:00 America/New_York', timezone: NY,
          inside: true, localTime: 'Tue 2026-03-03 10:15 EST',
        }],
        nextOpen: '2026-03-03T22:00:00.000Z',
        nextOpenText: 'Tue 2026-03-03 17:00 EST (2026-03-03 22:00 UTC)',
      },
    });
  });

  it('opens outside the deny window: evenings and weekends', () => {
    const evening = evaluateWindows(BUSINESS_HOURS_DENY, t('2026-03-03T23:00:00Z'));
    expect([evening.open, evening.reason, iso(evening.nextOpen)]).toEqual([
      true, 'open: outside deny mon–fri 09:00–17:00 America/New_York (now Tue 18:00 EST)', '2026-03-03T23:00:00.000Z',
    ]);
    const saturday = evaluateWindows(BUSINESS_HOURS_DENY, t('2026-03-07T15:00:00Z'));
    expect([saturday.open, saturday.reason]).toEqual([true, 'open: outside deny mon–fri 09:00–17:00 America/New_York (now Sat 10:00 EST)']);
  });

  it('treats from as inclusive and to as exclusive', () => {
    expect(openings(BUSINESS_HOURS_DENY, [
      '2026-03-03T13:59:59.999Z', '2026-03-03T14:00:00Z', '2026-03-03T21:59:59.999Z', '2026-03-03T22:00:00Z',
    ])).toEqual([
      ['2026-03-03T13:59:59.999Z', true, '2026-03-03T13:59:59.999Z'],
      ['2026-03-03T14:00:00Z', false, '2026-03-03T22:00:00.000Z'],
      ['2026-03-03T21:59:59.999Z', false, '2026-03-03T22:00:00.000Z'],
      ['2026-03-03T22:00:00Z', true, '2026-03-03T22:00:00.000Z'],
    ]);
  });

  it('finds the next opening of an allow window across a weekend', () => {
    const windows = [allow(WEEKDAYS, '09:00', '17:00', LONDON)];
    const friday = evaluateWindows(windows, t('2026-03-06T17:30:00Z'));
    expect([friday.open, friday.reason, iso(friday.nextOpen), friday.evidence.nextOpenText]).toEqual([
      false, 'closed: outside allow mon–fri 09:00–17:00 Europe/London (now Fri 17:30 GMT)',
      '2026-03-09T09:00:00.000Z', 'Mon 2026-03-09 09:00 GMT (2026-03-09 09:00 UTC)',
    ]);
    const monday = evaluateWindows(windows, t('2026-03-09T10:00:00Z'));
    expect([monday.open, monday.reason]).toEqual([true, 'open: inside allow mon–fri 09:00–17:00 Europe/London (now Mon 10:00 GMT)']);
  });

  it('is open inside at least one of several allow windows', () => {
    const windows = [allow(['mon'], '09:00', '10:00', LONDON), allow(['mon'], '14:00', '15:00', LONDON)];
    const inSecond = evaluateWindows(windows, t('2026-03-09T14:30:00Z'));
    expect([inSecond.open, inSecond.reason]).toEqual([true, 'open: inside allow mon 14:00–15:00 Europe/London (now Mon 14:30 GMT)']);
    const between = evaluateWindows(windows, t('2026-03-09T12:00:00Z'));
    expect([between.open, between.reason, iso(between.nextOpen)]).toEqual([
      false,
      'closed: outside allow mon 09:00–10:00 Europe/London (now Mon 12:00 GMT) and allow mon 14:00–15:00 Europe/London (now Mon 12:00 GMT)',
      '2026-03-09T14:00:00.000Z',
    ]);
  });

  it('combines allow and deny: a deny inside an allow window, and a deny at its end', () => {
    const windows = [allow(WEEKDAYS, '08:00', '18:00', NY), deny(WEEKDAYS, '12:00', '13:00', NY), deny(['fri'], '17:00', '18:00', NY)];
    const lunch = evaluateWindows(windows, t('2026-06-10T16:30:00Z'));
    expect([lunch.open, lunch.reason, iso(lunch.nextOpen)]).toEqual([
      false, 'closed: deny mon–fri 12:00–13:00 America/New_York (now Wed 12:30 EDT)', '2026-06-10T17:00:00.000Z',
    ]);
    const morning = evaluateWindows(windows, t('2026-06-10T14:00:00Z'));
    expect([morning.open, morning.reason]).toEqual([
      true,
      'open: inside allow mon–fri 08:00–18:00 America/New_York (now Wed 10:00 EDT); '
        + 'outside deny mon–fri 12:00–13:00 America/New_York (now Wed 10:00 EDT) and deny fri 17:00–18:00 America/New_York (now Wed 10:00 EDT)',
    ]);
    const fridayEvening = evaluateWindows(windows, t('2026-06-12T21:30:00Z'));
    expect([fridayEvening.reason, iso(fridayEvening.nextOpen)]).toEqual([
      'closed: deny fri 17:00–18:00 America/New_York (now Fri 17:30 EDT)', '2026-06-15T12:00:00.000Z',
    ]);
  });

  it('reads each window in its own time zone and renders the next opening in every zone', () => {
    const windows = [allow(WEEKDAYS, '09:00', '17:00', 'Europe/Berlin'), ...BUSINESS_HOURS_DENY];
    const r = evaluateWindows(windows, t('2026-03-06T17:00:00Z'));
    expect([r.reason, iso(r.nextOpen), r.evidence.nextOpenText]).toEqual([
      'closed: deny mon–fri 09:00–17:00 America/New_York (now Fri 12:00 EST)',
      '2026-03-09T08:00:00.000Z',
      'Mon 2026-03-09 09:00 CET Europe/Berlin, Mon 2026-03-09 04:00 EDT America/New_York (2026-03-09 08:00 UTC)',
    ]);
  });

  it('renders a UTC window without repeating UTC', () => {
    const r = evaluateWindows([allow(['mon'], '06:00', '22:00', 'UTC')], t('2026-03-03T10:00:00Z'));
    expect([r.reason, r.evidence.nextOpenText]).toEqual([
      'closed: outside allow mon 06:00–22:00 UTC (now Tue 10:00 UTC)', 'Mon 2026-03-09 06:00 UTC',
    ]);
  });

  it('accepts 24:00 as the end of a day', () => {
    const windows = [deny(['sat'], '18:00', '24:00', 'UTC'), deny(['sun'], '00:00', '06:00', 'UTC')];
    expect(openings(windows, ['2026-03-07T23:59:00Z', '2026-03-08T06:00:00Z'])).toEqual([
      ['2026-03-07T23:59:00Z', false, '2026-03-08T06:00:00.000Z'],
      ['2026-03-08T06:00:00Z', true, '2026-03-08T06:00:00.000Z'],
    ]);
  });
});

describe('evaluateWindows: against a minute-by-minute reading of the wall clock', () => {
  // Away from DST changes a window is open exactly when the local clock reads inside it, so a
  // plain scan of the clock (in quarter hours: every boundary and offset here is a multiple)
  // checks the boundary jumping of nextOpen on many random cases.
  const ZONES = ['America/New_York', 'Europe/London', 'Europe/Berlin', 'Asia/Kolkata'];
  const QUARTER = 15 * 60_000;
  const dayFormat = new Map(ZONES.map((z) => [z, new Intl.DateTimeFormat('en-GB', { timeZone: z, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })]));

  function reads(zone: string, at: number): { day: string; minutes: number } {
    const p = Object.fromEntries(dayFormat.get(zone)!.formatToParts(at).map((x) => [x.type, x.value]));
    return { day: p.weekday.toLowerCase(), minutes: Number(p.hour) * 60 + Number(p.minute) };
  }

  function openByClock(windows: Windows, at: number): boolean {
    const inside = (range: { days: string[]; from: string; to: string }, zone: string): boolean => {
      const { day, minutes } = reads(zone, at);
      const minutesOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3));
      return range.days.includes(day) && minutes >= minutesOf(range.from) && minutes < minutesOf(range.to);
    };
    const allows = windows.filter((w) => w.allow);
    return (allows.length === 0 || allows.some((w) => inside(w.allow as never, w.timezone)))
      && !windows.some((w) => w.deny && inside(w.deny as never, w.timezone));
  }

  function random(seed: number): () => number {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
      return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
    };
  }

  it('agrees on 40 random sets of windows in April and May 2026', () => {
    const next = random(20260401);
    const pick = (n: number): number => Math.floor(next() * n);
    const clock = (quarters: number): string => `${String(Math.floor(quarters / 4)).padStart(2, '0')}:${String((quarters % 4) * 15).padStart(2, '0')}`;
    const disagreements: string[] = [];
    for (let c = 0; c < 40; c++) {
      const windows: Windows = Array.from({ length: 1 + pick(3) }, () => {
        const from = pick(95);
        const to = from + 1 + pick(96 - from);
        const days = EVERY_DAY.filter(() => next() < 0.5);
        const range = { days: days.length > 0 ? days : ['wed'], from: clock(from), to: clock(to) };
        return { [next() < 0.5 ? 'allow' : 'deny']: range, timezone: ZONES[pick(ZONES.length)] } as Windows[number];
      });
      const at = t('2026-04-06T00:00:00Z') + pick(28 * 96) * QUARTER;
      let expected: number | null = null;
      for (let x = at; x <= at + 7 * DAY; x += QUARTER) {
        if (openByClock(windows, x)) { expected = x; break; }
      }
      const got = evaluateWindows(windows, at).nextOpen;
      const agrees = expected !== null ? got === expected : got === null || got > at + 7 * DAY;
      if (!agrees) disagreements.push(`${JSON.stringify(windows)} at ${iso(at)}: expected ${iso(expected)}, got ${iso(got)}`);
    }
    expect(disagreements).toEqual([]);
  });
});

describe('evaluateWindows: daylight saving time', () => {
  it('opens a 09:00–17:00 New York window at 09:00 local on both sides of each change', () => {
    const windows = [allow(WEEKDAYS, '09:00', '17:00', NY)];
    expect(openings(windows, [
      '2026-03-06T12:00:00Z', // Fri 07:00 EST
      '2026-03-06T22:00:00Z', // Fri 17:00 EST: next is Monday, after the spring-forward Sunday
      '2026-03-09T20:59:00Z', // Mon 16:59 EDT
      '2026-03-09T21:00:00Z', // Mon 17:00 EDT
      '2026-10-30T21:00:00Z', // Fri 17:00 EDT: next is Monday, after the fall-back Sunday
      '2026-11-02T21:59:00Z', // Mon 16:59 EST
      '2026-11-02T22:00:00Z', // Mon 17:00 EST
    ])).toEqual([
      ['2026-03-06T12:00:00Z', false, '2026-03-06T14:00:00.000Z'],
      ['2026-03-06T22:00:00Z', false, '2026-03-09T13:00:00.000Z'],
      ['2026-03-09T20:59:00Z', true, '2026-03-09T20:59:00.000Z'],
      ['2026-03-09T21:00:00Z', false, '2026-03-10T13:00:00.000Z'],
      ['2026-10-30T21:00:00Z', false, '2026-11-02T14:00:00.000Z'],
      ['2026-11-02T21:59:00Z', true, '2026-11-02T21:59:00.000Z'],
      ['2026-11-02T22:00:00Z', false, '2026-11-03T14:00:00.000Z'],
    ]);
  });

  it('opens a 09:00–17:00 London window at 09:00 local on both sides of each change', () => {
    const windows = [allow(WEEKDAYS, '09:00', '17:00', LONDON)];
    expect(openings(windows, [
      '2026-03-27T17:00:00Z', // Fri 17:00 GMT
      '2026-03-30T15:59:00Z', // Mon 16:59 BST
      '2026-03-30T16:00:00Z', // Mon 17:00 BST
      '2026-10-23T16:00:00Z', // Fri 17:00 BST
    ])).toEqual([
      ['2026-03-27T17:00:00Z', false, '2026-03-30T08:00:00.000Z'],
      ['2026-03-30T15:59:00Z', true, '2026-03-30T15:59:00.000Z'],
      ['2026-03-30T16:00:00Z', false, '2026-03-31T08:00:00.000Z'],
      ['2026-10-23T16:00:00Z', false, '2026-10-26T09:00:00.000Z'],
    ]);
    const r = evaluateWindows(windows, t('2026-03-27T17:00:00Z'));
    expect(r.evidence.nextOpenText).toBe('Mon 2026-03-30 09:00 BST (2026-03-30 08:00 UTC)');
  });

  it('starts a window that starts in the skipped hour when the clock jumps (New York, 2026-03-08)', () => {
    const windows = [allow(['sun'], '02:30', '04:00', NY)];
    const before = evaluateWindows(windows, t('2026-03-08T06:00:00Z'));
    expect([before.reason, iso(before.nextOpen), before.evidence.nextOpenText]).toEqual([
      'closed: outside allow sun 02:30–04:00 America/New_York (now Sun 01:00 EST)',
      '2026-03-08T07:00:00.000Z',
      'Sun 2026-03-08 03:00 EDT (2026-03-08 07:00 UTC)',
    ]);
    const atJump = evaluateWindows(windows, t('2026-03-08T07:00:00Z'));
    expect([atJump.open, atJump.reason]).toEqual([true, 'open: inside allow sun 02:30–04:00 America/New_York (now Sun 03:00 EDT)']);
    expect(openings(windows, ['2026-03-08T06:59:59Z', '2026-03-08T07:59:00Z', '2026-03-08T08:00:00Z'])).toEqual([
      ['2026-03-08T06:59:59Z', false, '2026-03-08T07:00:00.000Z'],
      ['2026-03-08T07:59:00Z', true, '2026-03-08T07:59:00.000Z'],
      ['2026-03-08T08:00:00Z', false, '2026-03-15T06:30:00.000Z'],
    ]);
  });

  it('skips a window wholly inside the skipped hour that day, and ends one that ends there when the clock jumps', () => {
    expect(openings([allow(['sun'], '02:00', '02:30', NY)], ['2026-03-08T06:00:00Z'])).toEqual([
      ['2026-03-08T06:00:00Z', false, '2026-03-15T06:00:00.000Z'],
    ]);
    expect(openings([deny(['sun'], '01:00', '02:30', NY)], ['2026-03-08T06:59:59Z', '2026-03-08T07:00:00Z'])).toEqual([
      ['2026-03-08T06:59:59Z', false, '2026-03-08T07:00:00.000Z'],
      ['2026-03-08T07:00:00Z', true, '2026-03-08T07:00:00.000Z'],
    ]);
  });

  it('starts a window that starts in the skipped hour when the clock jumps (London, 2026-03-29)', () => {
    expect(openings([allow(['sun'], '01:30', '03:00', LONDON)], [
      '2026-03-29T00:00:00Z', '2026-03-29T01:00:00Z', '2026-03-29T01:59:00Z', '2026-03-29T02:00:00Z',
    ])).toEqual([
      ['2026-03-29T00:00:00Z', false, '2026-03-29T01:00:00.000Z'],
      ['2026-03-29T01:00:00Z', true, '2026-03-29T01:00:00.000Z'],
      ['2026-03-29T01:59:00Z', true, '2026-03-29T01:59:00.000Z'],
      ['2026-03-29T02:00:00Z', false, '2026-04-05T00:30:00.000Z'],
    ]);
  });

  it('opens a window in the repeated hour during its first pass only (New York, 2026-11-01)', () => {
    const windows = [allow(['sun'], '01:00', '01:30', NY)];
    expect(openings(windows, [
      '2026-11-01T04:00:00Z', // 00:00 EDT
      '2026-11-01T05:29:00Z', // 01:29 EDT
      '2026-11-01T05:30:00Z', // 01:30 EDT
    ])).toEqual([
      ['2026-11-01T04:00:00Z', false, '2026-11-01T05:00:00.000Z'],
      ['2026-11-01T05:29:00Z', true, '2026-11-01T05:29:00.000Z'],
      ['2026-11-01T05:30:00Z', false, '2026-11-08T06:00:00.000Z'],
    ]);
    const secondPass = evaluateWindows(windows, t('2026-11-01T06:10:00Z'));
    expect([secondPass.open, secondPass.reason, iso(secondPass.nextOpen)]).toEqual([
      false, 'closed: outside allow sun 01:00–01:30 America/New_York (now Sun 01:10 EST)', '2026-11-08T06:00:00.000Z',
    ]);
  });

  it('keeps a window that spans the repeated hour open through both passes (New York, 2026-11-01)', () => {
    const windows = [allow(['sun'], '01:30', '03:00', NY)];
    const secondPass = evaluateWindows(windows, t('2026-11-01T06:10:00Z'));
    expect([secondPass.open, secondPass.reason]).toEqual([true, 'open: inside allow sun 01:30–03:00 America/New_York (now Sun 01:10 EST)']);
    expect(openings(windows, ['2026-11-01T05:29:00Z', '2026-11-01T05:30:00Z', '2026-11-01T07:59:00Z', '2026-11-01T08:00:00Z'])).toEqual([
      ['2026-11-01T05:29:00Z', false, '2026-11-01T05:30:00.000Z'],
      ['2026-11-01T05:30:00Z', true, '2026-11-01T05:30:00.000Z'],
      ['2026-11-01T07:59:00Z', true, '2026-11-01T07:59:00.000Z'],
      ['2026-11-01T08:00:00Z', false, '2026-11-08T06:30:00.000Z'],
    ]);
  });

  it('ends a deny window that ends in the repeated hour at its first occurrence (London, 2026-10-25)', () => {
    const windows = [deny(['sun'], '00:00', '01:30', LONDON)];
    const firstPass = evaluateWindows(windows, t('2026-10-25T00:15:00Z'));
    expect([firstPass.reason, iso(firstPass.nextOpen)]).toEqual([
      'closed: deny sun 00:00–01:30 Europe/London (now Sun 01:15 BST)', '2026-10-25T00:30:00.000Z',
    ]);
    const secondPass = evaluateWindows(windows, t('2026-10-25T01:15:00Z'));
    expect([secondPass.open, secondPass.reason]).toEqual([true, 'open: outside deny sun 00:00–01:30 Europe/London (now Sun 01:15 GMT)']);
  });
});

describe('evaluateWindows: one-off ranges', () => {
  const FREEZE: Windows = [{ deny: { start: '2026-12-24T00:00', end: '2027-01-02T00:00' }, timezone: LONDON }];

  it('closes for a holiday freeze from its local start to its local end', () => {
    expect(openings(FREEZE, ['2026-12-23T23:59:00Z', '2027-01-01T23:59:00Z', '2027-01-02T00:00:00Z'])).toEqual([
      ['2026-12-23T23:59:00Z', true, '2026-12-23T23:59:00.000Z'],
      ['2027-01-01T23:59:00Z', false, '2027-01-02T00:00:00.000Z'],
      ['2027-01-02T00:00:00Z', true, '2027-01-02T00:00:00.000Z'],
    ]);
    const r = evaluateWindows(FREEZE, t('2026-12-24T00:00:00Z'));
    expect([r.reason, r.evidence.nextOpenText]).toEqual([
      'closed: deny 2026-12-24 00:00 → 2027-01-02 00:00 Europe/London (now Thu 2026-12-24 00:00 GMT)',
      'Sat 2027-01-02 00:00 GMT (2027-01-02 00:00 UTC)',
    ]);
  });

  it('opens at the first allowed weekday after the freeze', () => {
    const r = evaluateWindows([...FREEZE, allow(WEEKDAYS, '09:00', '17:00', LONDON)], t('2026-12-28T10:00:00Z'));
    expect([r.reason, iso(r.nextOpen)]).toEqual([
      'closed: deny 2026-12-24 00:00 → 2027-01-02 00:00 Europe/London (now Mon 2026-12-28 10:00 GMT)', '2027-01-04T09:00:00.000Z',
    ]);
  });

  it('reads one-off times in summer time too', () => {
    const windows: Windows = [{ deny: { start: '2026-07-03T18:00', end: '2026-07-06T06:00' }, timezone: NY }];
    expect(openings(windows, ['2026-07-03T21:59:00Z', '2026-07-04T12:00:00Z'])).toEqual([
      ['2026-07-03T21:59:00Z', true, '2026-07-03T21:59:00.000Z'],
      ['2026-07-04T12:00:00Z', false, '2026-07-06T10:00:00.000Z'],
    ]);
  });
});

describe('evaluateWindows: never opens', () => {
  it('gives no next opening when denied all day every day', () => {
    const r = evaluateWindows([deny(EVERY_DAY, '00:00', '24:00', 'UTC')], t('2026-03-03T15:15:00Z'));
    expect([r.open, r.reason, r.nextOpen, r.evidence.nextOpen, r.evidence.nextOpenText]).toEqual([
      false, 'closed: deny every day 00:00–24:00 UTC (now Tue 15:15 UTC)', null, null, 'does not open within 366 days',
    ]);
  });

  it('gives no next opening when the only allow window is over', () => {
    const r = evaluateWindows([{ allow: { start: '2026-01-10T00:00', end: '2026-01-11T00:00' }, timezone: 'UTC' }], t('2026-03-03T15:15:00Z'));
    expect([r.reason, r.nextOpen]).toEqual(['closed: outside allow 2026-01-10 00:00 → 2026-01-11 00:00 UTC (now Tue 2026-03-03 15:15 UTC)', null]);
  });

  it('looks exactly 366 days ahead', () => {
    const at = t('2026-01-01T00:00:00Z');
    const opensAt = (start: string): number | null =>
      evaluateWindows([{ allow: { start, end: '2027-01-03T00:00' }, timezone: 'UTC' }], at).nextOpen;
    expect([iso(opensAt('2027-01-02T00:00')), opensAt('2027-01-02T00:01')]).toEqual(['2027-01-02T00:00:00.000Z', null]);
  });
});

describe('evaluateWindows: malformed windows', () => {
  it('throws a config error naming the window', () => {
    let caught: unknown;
    try {
      evaluateWindows([...BUSINESS_HOURS_DENY, deny(WEEKDAYS, '09:00', '17:00', 'Mars/Olympus_Mons')], 0);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(GangwayError);
    expect([(caught as GangwayError).code, (caught as GangwayError).message, (caught as GangwayError).hint]).toEqual([
      'invalid_config', 'windows[1]: unknown time zone "Mars/Olympus_Mons"', 'use an IANA time zone name, e.g. "Europe/London" or "America/New_York"',
    ]);
  });
});

describe('validateWindows', () => {
  const HINT_OVERLAP = 'merge them into one window, or let one end where the other starts';

  it('finds nothing wrong with well-formed windows', () => {
    expect(validateWindows([
      ...BUSINESS_HOURS_DENY,
      allow(EVERY_DAY, '06:00', '22:00', 'UTC'),
      { deny: { start: '2026-12-24T00:00', end: '2027-01-02T00:00' }, timezone: NY },
    ])).toEqual([]);
  });

  it('reports weekly ranges of the same kind in the same zone that overlap on a day', () => {
    expect(validateWindows([
      allow(['mon', 'tue'], '09:00', '11:00', 'UTC'),
      deny(['mon'], '10:00', '12:00', 'UTC'), // another kind
      allow(['mon', 'wed'], '10:00', '12:00', 'UTC'),
      allow(['mon'], '10:00', '12:00', LONDON), // another zone
      allow(['tue'], '11:00', '12:00', 'UTC'), // touches window 0: no overlap
      allow(WEEKDAYS, '08:00', '09:30', 'UTC'),
    ])).toEqual([
      { index: 2, message: 'windows 0 and 2 overlap on mon 10:00–11:00', hint: HINT_OVERLAP },
      { index: 5, message: 'windows 0 and 5 overlap on mon, tue 09:00–09:30', hint: HINT_OVERLAP },
    ]);
  });

  it('reports overlapping one-off ranges, and treats zone aliases as the same zone', () => {
    expect(validateWindows([
      { deny: { start: '2026-12-24T00:00', end: '2027-01-02T00:00' }, timezone: NY },
      deny(WEEKDAYS, '09:00', '17:00', NY), // weekly against one-off: intended
      { deny: { start: '2026-12-31T00:00', end: '2027-01-05T00:00' }, timezone: 'US/Eastern' },
    ])).toEqual([
      { index: 2, message: 'windows 0 and 2 overlap from 2026-12-31 00:00 to 2027-01-02 00:00', hint: HINT_OVERLAP },
    ]);
  });

  it('reports inverted and empty ranges', () => {
    expect(validateWindows([
      deny(WEEKDAYS, '18:00', '08:00', 'UTC'),
      deny(WEEKDAYS, '09:00', '09:00', 'UTC'),
      { allow: { start: '2027-01-02T00:00', end: '2026-12-24T00:00' }, timezone: 'UTC' },
    ])).toEqual([
      { index: 0, message: 'from 18:00 must be before to 08:00', hint: 'a range cannot pass midnight; split it into two windows' },
      { index: 1, message: 'from 09:00 must be before to 09:00', hint: 'a range cannot pass midnight; split it into two windows' },
      { index: 2, message: 'start 2027-01-02T00:00 must be before end 2026-12-24T00:00', hint: 'swap start and end' },
    ]);
  });

  it('reports unknown time zones, with a suggestion when one is close', () => {
    expect(validateWindows([
      deny(WEEKDAYS, '09:00', '17:00', 'Europe/Berln'),
      deny(WEEKDAYS, '09:00', '17:00', 'Mars/Olympus_Mons'),
    ])).toEqual([
      { index: 0, message: 'unknown time zone "Europe/Berln"', hint: 'did you mean "Europe/Berlin"?' },
      { index: 1, message: 'unknown time zone "Mars/Olympus_Mons"', hint: 'use an IANA time zone name, e.g. "Europe/London" or "America/New_York"' },
    ]);
  });

  it('reports malformed days, times and dates', () => {
    expect(validateWindows([
      deny(['monday'], '9:00', '24:00', 'UTC'),
      deny([], '24:00', '25:00', 'UTC'),
      { deny: { start: '2026-02-30T00:00', end: '2026-12-24' }, timezone: 'UTC' },
      { timezone: 'UTC' },
    ])).toEqual([
      { index: 0, message: 'unknown day "monday"', hint: 'days are mon, tue, wed, thu, fri, sat, sun' },
      { index: 0, message: 'from must be a time of day "HH:MM", got "9:00"', hint: 'write it with two-digit hours, e.g. "09:00"' },
      { index: 1, message: 'days is empty', hint: 'name at least one day, e.g. [mon, tue, wed, thu, fri]' },
      { index: 1, message: 'from must be a time of day "HH:MM", got "24:00"', hint: 'write it with two-digit hours, e.g. "09:00"' },
      { index: 1, message: 'to must be a time of day "HH:MM" or "24:00", got "25:00"', hint: 'write it with two-digit hours, e.g. "17:00"' },
      { index: 2, message: 'start must be a local date and time "YYYY-MM-DDTHH:MM", got "2026-02-30T00:00"', hint: 'e.g. "2026-12-24T00:00"' },
      { index: 2, message: 'end must be a local date and time "YYYY-MM-DDTHH:MM", got "2026-12-24"', hint: 'e.g. "2027-01-02T00:00"' },
      { index: 3, message: 'a window has neither allow nor deny', hint: 'give it exactly one of allow, deny' },
    ]);
  });
});

describe('WindowGate', () => {
  function environment(name: string, windows: Windows, expedited: EnvironmentConfig['expedited'] = null): EnvironmentConfig {
    return { name, reason: 'optional', queue: 'supersede', windows, checks: [], checklist: [], image: null, expedited };
  }

  const config: GangwayConfig = {
    project: 'shop', file: '/srv/shop/gangway.yaml', rootDir: '/srv/shop', stateDir: '/srv/shop/.gangway',
    server: { host: '127.0.0.1', port: 7400 }, agent: { metricsPort: 7401, host: '127.0.0.1' },
    store: { kind: 'sqlite', path: '/srv/shop/.gangway/state.db' },
    environments: [
      environment('staging', []),
      environment('prod', BUSINESS_HOURS_DENY),
      environment('frozen', [deny(EVERY_DAY, '00:00', '24:00', 'UTC')], { skip: ['window'] }),
      environment('sealed', [deny(EVERY_DAY, '00:00', '24:00', 'UTC')]),
      environment('broken', [deny(WEEKDAYS, '09:00', '17:00', 'Mars/Olympus_Mons')]),
    ],
    serviceNames: ['web'], services: {}, analysisTemplates: {}, groups: {}, registries: [], incidents: null,
    records: null, notifications: [], metrics: { prometheus: null, requests: null },
  };
  const gate = new WindowGate(config);

  function request(environment: string, now: string): GateRequest {
    return {
      service: 'web', environment, version: '1.4.2', image: null, actor: 'ana', reason: null,
      expedited: false, deploymentId: null, now: t(now),
    };
  }

  it('applies to environments with windows only', () => {
    expect(['staging', 'prod', 'frozen', 'nowhere'].map((e) => gate.applies(config, e))).toEqual([false, true, true, false]);
  });

  it('passes while the environment is open', async () => {
    const r = await gate.evaluate(request('prod', '2026-03-03T23:00:00Z'));
    expect(r).toEqual({
      gate: 'window', result: 'pass',
      reason: 'open: outside deny mon–fri 09:00–17:00 America/New_York (now Tue 18:00 EST)',
      evidence: {
        at: '2026-03-03T23:00:00.000Z',
        windows: [{
          index: 0, kind: 'deny', window: 'deny mon–fri 09:00–17:00 America/New_York', timezone: NY,
          inside: false, localTime: 'Tue 2026-03-03 18:00 EST',
        }],
        nextOpen: '2026-03-03T23:00:00.000Z',
        nextOpenText: 'Tue 2026-03-03 18:00 EST (2026-03-03 23:00 UTC)',
      },
    });
  });

  it('passes an environment without windows', async () => {
    expect(await gate.evaluate(request('staging', '2026-03-03T15:15:00Z'))).toEqual({
      gate: 'window', result: 'pass', reason: 'open: environment staging has no deployment windows',
      evidence: { at: '2026-03-03T15:15:00.000Z', windows: [] },
    });
  });

  it('waits until the next opening, said in local time and UTC', async () => {
    const r = await gate.evaluate(request('prod', '2026-03-06T15:15:00Z'));
    expect(r.result === 'wait' ? [r.until, r.reason] : r).toEqual([
      t('2026-03-06T22:00:00Z'),
      'closed: deny mon–fri 09:00–17:00 America/New_York (now Fri 10:15 EST); opens Fri 2026-03-06 17:00 EST (2026-03-06 22:00 UTC)',
    ]);
  });

  it('fails when the environment does not open within a year', async () => {
    const frozen = await gate.evaluate(request('frozen', '2026-03-03T15:15:00Z'));
    expect(frozen.result === 'fail' ? [frozen.reason, frozen.hint] : frozen).toEqual([
      'closed: deny every day 00:00–24:00 UTC (now Tue 15:15 UTC); does not open within 366 days',
      'change the windows of environment frozen in gangway.yaml, or deploy with --expedited (this environment lets it skip the window gate)',
    ]);
    const sealed = await gate.evaluate(request('sealed', '2026-03-03T15:15:00Z'));
    expect(sealed.result === 'fail' ? sealed.hint : sealed).toBe('change the windows of environment sealed in gangway.yaml');
  });

  it('fails with the problem when the windows are malformed, without throwing', async () => {
    const r = await gate.evaluate(request('broken', '2026-03-03T15:15:00Z'));
    expect(r).toEqual({
      gate: 'window', result: 'fail',
      reason: 'invalid deployment windows in environment broken: windows[0]: unknown time zone "Mars/Olympus_Mons"',
      hint: 'use an IANA time zone name, e.g. "Europe/London" or "America/New_York"',
      evidence: {
        at: '2026-03-03T15:15:00.000Z',
        problems: [{ index: 0, message: 'unknown time zone "Mars/Olympus_Mons"', hint: 'use an IANA time zone name, e.g. "Europe/London" or "America/New_York"' }],
      },
    });
  });
});
