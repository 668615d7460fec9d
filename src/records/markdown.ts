/**
 * The small formatting rules every record shares (deployment records, release records): times
 * in ISO 8601 UTC, durations for people, path segments safe in any repository, and user text
 * escaped so it cannot break a Markdown table or start a heading.
 */

/** An epoch-milliseconds time in ISO 8601, UTC: `2025-03-04T22:15:00.000Z`. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** {@link iso}, or null for a time not reached. */
export function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : iso(ms);
}

/** The UTC date of a time: `2025-03-04`. */
export function isoDate(ms: number): string {
  return iso(ms).slice(0, 10);
}

/**
 * A duration for people.
 *
 * @example
 * ```ts
 * duration(252_000); // '4m 12s'
 * duration(850);     // '850ms'
 * ```
 */
export function duration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return [h ? `${h}h` : '', h || m ? `${m}m` : '', `${s}s`].filter(Boolean).join(' ');
}

/** A name fit for one path segment: anything but letters, digits, `.`, `_`, `-` becomes `-`, and it never starts with a dot. */
export function fileSafe(s: string): string {
  const safe = s.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^\.+/, '-');
  return safe === '' ? '-' : safe;
}

/** Text on one line: runs of whitespace (newlines included) become one space. */
export function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** User text inside Markdown (a table cell, a list item): one line, with Markdown's active characters escaped. */
export function text(s: string): string {
  return oneLine(s)
    .replace(/[\\`*[\]<|]/g, (c) => `\\${c}`)
    // Inside a word (`error_rate`) an underscore is plain text; at a word's edge it could start emphasis.
    .replace(/(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])/g, '\\_')
    .replace(/^[>#+-]/, (c) => `\\${c}`);
}

/** A code span; text that itself holds a backtick is escaped instead, as a code span could not show it. */
export function code(s: string): string {
  const one = oneLine(s);
  return one.includes('`') ? text(one) : `\`${one.replaceAll('|', '\\|')}\``;
}
