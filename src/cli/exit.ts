/**
 * How the `gangway` executable ends. It exits explicitly with the command's code instead of
 * letting the event loop drain: while Node tears a draining process down it closes its signal
 * handles first, so a Ctrl-C arriving in that moment (`npm start` forwards the terminal's a
 * little after the terminal delivered it) killed a process that had already cleaned up, and the
 * run read as interrupted. `process.exit` leaves the handlers in place until the process is gone.
 * Standard output and error are synchronous for files, pipes and terminals on Linux, so nothing
 * written before is lost.
 */

/**
 * Exits with the code `work` resolves to (1 and the stack when it rejects).
 *
 * @example
 * exitWhenDone(main(process.argv));
 */
export function exitWhenDone(work: Promise<number>): void {
  work.then((code) => process.exit(code), (err: unknown) => {
    process.stderr.write(`${err instanceof Error && err.stack ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
