/**
 * Checks of `alerts` that need the whole file (load.ts runs them with the others, so each
 * problem is shown at its file:line): channels name notifiers of `notifications`, preset
 * settings name the preset's tiers, a file's tier does not hide a preset's, and a Prometheus
 * condition has a Prometheus server to ask.
 */
import type { RawConfig } from '../config/schema.js';
import { backquote, didYouMean, listNames } from '../config/problems.js';
import type { PathSegment, RawProblem } from '../config/problems.js';
import { ALERT_TIER_PRESETS } from './presets.js';

/** Appends the problems of `raw.alerts` to `problems`. */
export function checkAlerts(raw: RawConfig, problems: RawProblem[]): void {
  const alerts = raw.alerts;
  if (!alerts) return;
  const notifiers = (raw.notifications ?? []).map((n) => n.name);
  const checkChannels = (channels: readonly string[] | undefined, at: PathSegment[]): void => {
    channels?.forEach((name, i) => {
      if (notifiers.includes(name)) return;
      problems.push({
        path: [...at, i], at: 'value', message: `${backquote(name)} is not a notifier`,
        suggest: () => {
          const guess = didYouMean(name, notifiers);
          if (guess) return `did you mean \`${guess}\`?`;
          return notifiers.length > 0 ? `notifiers: ${listNames(notifiers)}` : 'declare it under `notifications` (a webhook, slack or github notifier) and name it here';
        },
      });
    });
  };

  const presetTiers = alerts.preset ? (ALERT_TIER_PRESETS[alerts.preset] ?? []).map((t) => t.name) : [];
  for (const key of ['channels', 'actions'] as const) {
    for (const tier of Object.keys(alerts[key] ?? {})) {
      if (presetTiers.includes(tier)) continue;
      problems.push({
        path: ['alerts', key, tier], at: 'key', message: `${backquote(tier)} is not a tier of the ${alerts.preset} preset`,
        suggest: () => {
          const guess = didYouMean(tier, presetTiers);
          return guess ? `did you mean \`${guess}\`?` : `its tiers: ${listNames(presetTiers)}; a tier of your own goes under alerts.tiers with its channels and action`;
        },
      });
    }
  }
  for (const [tier, channels] of Object.entries(alerts.channels ?? {})) checkChannels(channels, ['alerts', 'channels', tier]);

  for (const [name, tier] of Object.entries(alerts.tiers ?? {})) {
    if (presetTiers.includes(name)) {
      problems.push({
        path: ['alerts', 'tiers', name], at: 'key', message: `${backquote(name)} is a tier of the ${alerts.preset} preset`,
        hint: `give yours another name; the preset's ${name} takes its channels from alerts.channels.${name} and its action from alerts.actions.${name}`,
      });
    }
    checkChannels(tier.channels, ['alerts', 'tiers', name, 'channels']);
    if (raw.metrics?.prometheus) continue;
    tier.conditions.forEach((c, i) => {
      const kind = c.threshold ? 'threshold' : c.relative ? 'relative' : undefined;
      const metric = c.threshold?.metric ?? c.relative?.metric;
      if (kind === undefined || metric?.prometheus === undefined) return;
      problems.push({
        path: ['alerts', 'tiers', name, 'conditions', i, kind, 'metric', 'prometheus'], at: 'value',
        message: 'a prometheus metric needs a Prometheus server, and metrics.prometheus is not set',
        hint: 'set metrics.prometheus.address, e.g. `metrics: { prometheus: { address: "http://127.0.0.1:9090" } }`',
      });
    });
  }
}
