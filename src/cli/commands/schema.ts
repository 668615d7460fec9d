/** `gangway schema`: the JSON Schema of gangway.yaml, for editor completion. */
import type { Command } from 'commander';
import { jsonSchemaText } from '../../config/json-schema.js';
import type { CliContext } from '../context.js';
import { action } from '../context.js';

/** Registers `schema`. */
export function registerSchema(program: Command, ctx: CliContext): void {
  program.command('schema')
    .description('print the JSON Schema of gangway.yaml (for editors: yaml-language-server)')
    .action(action(ctx, async () => {
      ctx.out(jsonSchemaText());
      return 0;
    }));
}
