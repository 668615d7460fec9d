/**
 * `node --import <this file> x.ts`: registers ./ts-hooks.mjs so plain Node runs TypeScript
 * sources (tests run Gangway's Helm post-renderer from src/ this way; there is no build in a
 * unit test).
 */
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
