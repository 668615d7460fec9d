import { GangwayError } from '../errors.js';

/** The forms a duration may take, shown to users whenever one is wrong. */
export const DURATION_HINT = 'write a duration string such as "500ms", "2s", "5m", "1h" or "1m30s"';

/**
 * The longest duration anything accepts: 2^31 − 1 ms (about 24.8 days). Timers cannot wait
 * longer; Node fires a longer one after 1 ms instead. Each config key has its own, lower limit.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/**
 * Units in the only order they may appear. Each unit at most once, largest first, so that
 * "30s5m" (almost always a typo) is refused instead of silently meaning 5m30s.
 * `m` must not be followed by `s`, otherwise "500ms" would read as 500 minutes plus an `s`.
 */
const DURATION_RE = /^(?=\d)(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/;

/** The same grammar as {@link parseDuration}, as a JSON Schema `pattern` for editors. */
export const DURATION_PATTERN = DURATION_RE.source;

/** Whether `text` is a duration {@link parseDuration} accepts (in form; its length is not checked). */
export function isDuration(text: string): boolean {
  return DURATION_RE.test(text);
}

/**
 * Milliseconds of a duration in the grammar of {@link parseDuration}, without its limit: NaN for
 * text that is not a duration, Infinity for one too long to count (a thousand digits).
 *
 * @example
 * durationMs('600h'); // 2160000000
 */
export function durationMs(text: string): number {
  const m = DURATION_RE.exec(text);
  if (!m) return NaN;
  const [, h, min, s, ms] = m;
  return (Number(h ?? 0) * 3600 + Number(min ?? 0) * 60 + Number(s ?? 0)) * 1000 + Number(ms ?? 0);
}

/**
 * Parses a duration such as `"500ms"`, `"2s"`, `"5m"`, `"1h"` or `"1m30s"` into milliseconds.
 * Units are `h`, `m`, `s`, `ms`, each at most once and largest first; numbers are whole; the
 * result is at most {@link MAX_DURATION_MS}.
 *
 * @example
 * parseDuration('1m30s'); // 90000
 * @throws GangwayError (`invalid_argument`) naming the text, with {@link DURATION_HINT} as hint,
 *   or naming the limit when the duration is longer.
 */
export function parseDuration(text: string): number {
  const ms = durationMs(text);
  if (Number.isNaN(ms)) {
    throw new GangwayError('invalid_argument', `"${text.length > 80 ? `${text.slice(0, 80)}…` : text}" is not a duration`, DURATION_HINT);
  }
  if (!(ms <= MAX_DURATION_MS)) {
    throw new GangwayError('invalid_argument', `"${text.length > 80 ? `${text.slice(0, 80)}…` : text}" is longer than ${formatDuration(MAX_DURATION_MS)}, the longest duration`,
      `write a duration of at most ${formatDuration(MAX_DURATION_MS)}`);
  }
  return ms;
}

/**
 * A duration in milliseconds written the way the config writes it.
 *
 * @example
 * formatDuration(90_000); // '1m30s'
 * formatDuration(2 ** 31 - 1); // '596h31m23s647ms'
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const parts: Array<[number, string]> = [
    [Math.floor(ms / 3_600_000), 'h'], [Math.floor(ms / 60_000) % 60, 'm'], [Math.floor(ms / 1000) % 60, 's'], [ms % 1000, 'ms'],
  ];
  return parts.filter(([n]) => n > 0).map(([n, unit]) => `${n}${unit}`).join('');
}
