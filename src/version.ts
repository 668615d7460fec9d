import { readFileSync } from 'node:fs';

/** Gangway's own version (package.json), recorded with deployments and shown by the API. */
export const GANGWAY_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
