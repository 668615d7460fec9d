/**
 * Slack notifier: a Slack-compatible incoming-webhook message (`{ text, blocks }`) per
 * notification; Mattermost and Rocket.Chat accept the same payload.
 */
import type { NotifierConfig, NotifyEvent } from '../config/types.js';
import type { DeliveryResult, Notification, Notifier, ReleaseNotification, SendContext } from './types.js';
import { postJson } from './webhook.js';

/** An incoming-webhook message: `text` for notifications and clients without blocks, `blocks` for display. */
export interface SlackMessage {
  text: string;
  blocks: Array<
    | { type: 'section'; text: { type: 'mrkdwn'; text: string } }
    | { type: 'context'; elements: Array<{ type: 'mrkdwn'; text: string }> }
  >;
}

/** Slack's mrkdwn treats `&`, `<` and `>` as control characters; user strings are escaped. */
function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * The one-line summary of a notification, e.g.
 * `:white_check_mark: web 1.4.2 deployed to prod by ana (CHG-42)`.
 *
 * @example
 * ```ts
 * slackSummary(n); // ':x: web 1.4.2 failed in prod: smoke check /health answered 503'
 * ```
 */
export function slackSummary(n: Notification): string {
  const d = n.deployment;
  const what = `${esc(d.service)} ${esc(d.version)}`;
  const by = `by ${esc(d.actor)}${d.reason ? ` (${esc(d.reason)})` : ''}`;
  const because = d.message ? `: ${esc(d.message)}` : '';
  switch (n.event) {
    case 'started': return `:rocket: ${what} deploying to ${esc(d.environment)} ${by}`;
    case 'waiting': return `:hourglass_flowing_sand: ${what} waiting to deploy to ${esc(d.environment)}${because}`;
    case 'succeeded': return `:white_check_mark: ${what} deployed to ${esc(d.environment)} ${by}`;
    case 'failed': return `:x: ${what} ${d.phase === 'aborted' ? 'aborted' : 'failed'} in ${esc(d.environment)}${because}`;
    case 'rolled_back': return `:rewind: ${what} rolled back in ${esc(d.environment)}${n.rolledBackTo ? ` to ${esc(n.rolledBackTo)}` : ''}${because}`;
    case 'superseded': return `:fast_forward: ${what} superseded in ${esc(d.environment)}${because}`;
    case 'alert.fired': return `:rotating_light: alert ${esc(n.alert?.tier ?? '')} fired for ${what} in ${esc(d.environment)}: ${esc(n.alert?.reason ?? '')}${alertAction(n)}`;
    case 'alert.resolved': return `:large_green_circle: alert ${esc(n.alert?.tier ?? '')} resolved for ${what} in ${esc(d.environment)}: ${esc(n.alert?.reason ?? '')}`;
  }
}

/** What a fired tier does, for its summary. */
function alertAction(n: Notification): string {
  switch (n.alert?.action) {
    case 'rollback': return ' (rolling back)';
    case 'freeze': return ` (freezing ${esc(n.deployment.environment)})`;
    default: return '';
  }
}

/**
 * The full message: the summary, then a context line with the deployment id, the phase and
 * the pinned image when there is one.
 */
export function slackMessage(n: Notification): SlackMessage {
  const text = slackSummary(n);
  const d = n.deployment;
  const context = [`deployment \`${esc(d.id)}\``, `phase ${d.phase}`, ...(d.image ? [`image \`${esc(d.image)}\``] : [])].join(' · ');
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: context }] },
    ],
  };
}

/**
 * The one-line summary of a release notification, e.g.
 * `:white_check_mark: release r-m3x9k2-5c1f0a2b deployed to prod by ana (CHG-42): auth 1.4.0, api 1.4.0, web 1.4.0`.
 *
 * @example
 * ```ts
 * slackReleaseSummary(n); // ':rewind: release r-m3x9k2-5c1f0a2b rolled back in prod: api rolled back (health failed); rolled back web, auth'
 * ```
 */
export function slackReleaseSummary(n: ReleaseNotification): string {
  const r = n.release;
  const what = `release ${esc(r.id)}`;
  const because = r.message ? `: ${esc(r.message)}` : '';
  switch (n.event) {
    case 'release.succeeded': {
      const versions = r.services.map((s) => `${esc(s.service)} ${esc(s.version)}`).join(', ');
      return `:white_check_mark: ${what} deployed to ${esc(r.environment)} by ${esc(r.actor)}${r.reason ? ` (${esc(r.reason)})` : ''}: ${versions}`;
    }
    case 'release.failed': return `:x: ${what} failed in ${esc(r.environment)}${because}`;
    case 'release.rolled_back': return `:rewind: ${what} rolled back in ${esc(r.environment)}${because}`;
  }
}

/**
 * One message for a release as a whole: the summary, a line per service (version, how its
 * deployment ended, its rollback), and a context line with who asked for it and why.
 */
export function slackReleaseMessage(n: ReleaseNotification): SlackMessage {
  const text = slackReleaseSummary(n);
  const r = n.release;
  const lines = r.services.map((s) => {
    const deployment = s.deploymentId ? ` (\`${esc(s.deploymentId)}\`)` : '';
    const back = s.rollback ? `; rolled back to ${esc(s.rollback.version)}: ${s.rollback.phase.replaceAll('_', ' ')}` : '';
    return `• ${esc(s.service)} ${esc(s.version)}: ${s.outcome.replaceAll('_', ' ')}${deployment}${back}`;
  });
  const context = [`release \`${esc(r.id)}\``, `phase ${r.phase}`, `by ${esc(r.actor)}`, ...(r.reason ? [`reason ${esc(r.reason)}`] : [])].join(' · ');
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      { type: 'section', text: { type: 'mrkdwn', text: lines.join('\n') } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: context }] },
    ],
  };
}

type SlackConfig = Extract<NotifierConfig, { kind: 'slack' }>;

/**
 * Posts each notification to a Slack incoming webhook. The URL is a secret (it grants
 * posting) and is never logged.
 *
 * @example
 * ```ts
 * new SlackNotifier({ kind: 'slack', name: 'releases', url: process.env.SLACK_WEBHOOK_URL!,
 *   events: ['succeeded', 'failed', 'rolled_back'], timeoutMs: 5000, retries: 3 });
 * ```
 */
export class SlackNotifier implements Notifier {
  readonly kind = 'slack';
  readonly name: string;
  readonly events: readonly NotifyEvent[];
  readonly retries: number;
  readonly timeoutMs: number;
  readonly #url: string;

  constructor(cfg: SlackConfig) {
    this.name = cfg.name;
    this.events = [...cfg.events];
    this.retries = cfg.retries;
    this.timeoutMs = cfg.timeoutMs;
    this.#url = cfg.url;
  }

  /** Not idempotent: Slack posts a retried message again. */
  async send(n: Notification, ctx: SendContext): Promise<DeliveryResult> {
    return postJson(this.#url, JSON.stringify(slackMessage(n)), {}, ctx.signal);
  }

  /** Not idempotent, as `send`: one message per release. */
  async sendRelease(n: ReleaseNotification, ctx: SendContext): Promise<DeliveryResult> {
    return postJson(this.#url, JSON.stringify(slackReleaseMessage(n)), {}, ctx.signal);
  }
}
