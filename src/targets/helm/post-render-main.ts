/**
 * The post-renderer process Helm runs (`helm upgrade … --post-renderer <node> --post-renderer-args
 * <this file> --post-renderer-args <spec file>`): reads the rendered manifests on stdin, prints
 * them shaped for the release (post-render.ts), writes the objects kept out of the release to the
 * spec's `keptOut` file. A failure prints one line on stderr and exits 1; Helm then stops before
 * it stores or applies anything, and puts that line in its own error.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { GangwayError } from '../../errors.js';
import { postRender, type PostRenderSpec } from './post-render.js';

function main(): number {
  const specFile = process.argv[2];
  if (!specFile) {
    process.stderr.write('gangway helm post-renderer: the spec file is missing (Gangway runs this program; it is not meant to be run by hand)\n');
    return 2;
  }
  try {
    const spec = JSON.parse(readFileSync(specFile, 'utf8')) as PostRenderSpec;
    const out = postRender(readFileSync(0, 'utf8'), spec);
    if (spec.keptOut) writeFileSync(spec.keptOut, JSON.stringify(out.keptOut), { mode: 0o600 });
    process.stdout.write(out.manifest);
    return 0;
  } catch (err) {
    const hint = err instanceof GangwayError && err.hint ? ` (${err.hint})` : '';
    process.stderr.write(`gangway: ${err instanceof Error ? err.message : String(err)}${hint}\n`);
    return 1;
  }
}

process.exitCode = main();
