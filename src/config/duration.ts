import { GangwayError } from '../errors.js';

/** The forms a duration may take, shown to users whenever one is wrong. */
export const DURATION_HINT = 'write a duration string such as "500ms", "2s", "5m", "1h" or "1m30s"';

/**
 * Units in the only order they may appear. Each unit at most once, largest first, so that
 * "30s5m" (almost always a typo) is refused instead of silently meaning 5m30s.
 * `m` must not be followed by `s`, otherwise "500ms" would read as 500 minutes plus an `s`.
 */
const DURATION_RE = /^(?=\d)(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/;

/** The same grammar as {@link parseDuration}, as a JSON Schema `pattern` for editors. */
export const DURATION_PATTERN = DURATION_RE.source;

/** Whether `text` is a duration {@link parseDuration} accepts. */
export function isDuration(text: string): boolean {
  return DURATION_RE.test(text);
}

/**
 * Parses a duration such as `"500ms"`, `"2s"`, `"5m"`, `"1h"` or `"1m30s"` into milliseconds.
 * Units are `h`, `m`, `s`, `ms`, each at most once and largest first; numbers are whole.
 *
 * @example
 * parseDuration('1m30s'); // 90000
 * @throws GangwayError (`invalid_argument`) naming the text, with {@link DURATION_HINT} as hint.
 */
export function parseDuration(text: string): number {
  const m = DURATION_RE.exec(text);
  if (!m) {
    throw new GangwayError('invalid_argument', `"${text}" is not a duration`, DURATION_HINT);
  }
  const [, h, min, s, ms] = m;
  return (Number(h ?? 0) * 3600 + Number(min ?? 0) * 60 + Number(s ?? 0)) * 1000 + Number(ms ?? 0);
}
