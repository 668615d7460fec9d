#!/usr/bin/env node
import { main } from '../dist/cli/main.js';
import { exitWhenDone } from '../dist/cli/exit.js';

exitWhenDone(main(process.argv));
