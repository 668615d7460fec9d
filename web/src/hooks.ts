/** Data hooks shared by the pages: poll an API route, and format values for people. */
import { useCallback, useEffect, useRef, useState } from 'react';
import { api, describeError } from './api.js';

/**
 * GETs `path` now and every `everyMs` (none: once) while mounted; `reload` fetches at once.
 * A failed poll keeps the last good data and shows the error beside it.
 */
export function usePoll<T>(path: string | null, everyMs?: number): { data: T | undefined; error: string | null; reload: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const current = useRef(path);
  current.current = path;
  const load = useCallback(async () => {
    if (!path) return;
    try {
      const body = await api<T>('GET', path);
      if (current.current === path) { setData(body); setError(null); }
    } catch (err) {
      if (current.current === path) setError(describeError(err));
    }
  }, [path]);
  useEffect(() => {
    setData(undefined);
    void load();
    if (!everyMs) return undefined;
    const timer = setInterval(() => { void load(); }, everyMs);
    return () => clearInterval(timer);
  }, [load, everyMs]);
  return { data, error, reload: () => { void load(); } };
}

/** "12:04:05" today, "Mar 3 12:04" on another day. */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(ms);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay ? d.toLocaleTimeString([], { hour12: false }) : d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false });
}

/** 1.5 s, 3 min, 2.1 h, 4.0 d. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 86_400_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${(ms / 86_400_000).toFixed(1)} d`;
}

/** 0.052 → "5.2%". */
export function formatPercent(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;
}

/** `rolled_back` → "rolled back". */
export function phaseLabel(phase: string): string {
  return phase.replace(/_/g, ' ');
}
