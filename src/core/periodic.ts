/**
 * A task run again and again, one run at a time, with a pause between the end of one run and the
 * start of the next (never overlapping, never piling up when a run is slow). The background units
 * that poll (the auto-deploy poller, the release-group driver) run on it.
 */

/** A periodic task; `start` and `stop` are idempotent. */
export interface Periodic {
  /** Runs the task now, then `everyMs` after each run ends, until `stop`. */
  start(): void;
  /** Stops scheduling, and resolves once the run in progress (if any) has ended. */
  stop(): Promise<void>;
  /** Whether it is started. */
  readonly running: boolean;
}

/**
 * @param run the task; a rejection goes to `onError` and the next run is scheduled as usual
 *
 * @example
 * const poll = periodic(() => poller.tick(), 1000, (err) => log.warn({ err }, 'poll failed'));
 * poll.start();
 * await poll.stop();
 */
export function periodic(run: () => Promise<void>, everyMs: number, onError: (err: unknown) => void): Periodic {
  let timer: NodeJS.Timeout | null = null;
  let inProgress: Promise<void> | null = null;
  let stopped = true;
  const loop = (): void => {
    if (stopped) return;
    inProgress = run().catch(onError).finally(() => {
      inProgress = null;
      if (!stopped) timer = setTimeout(loop, everyMs);
    });
  };
  return {
    start() {
      if (!stopped) return;
      stopped = false;
      loop();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await inProgress;
    },
    get running() {
      return !stopped;
    },
  };
}
