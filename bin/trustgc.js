#!/usr/bin/env node
// Entry point of the compiled CLI (npm run build produces dist/).
import { main } from '../dist/src/cli/main.js';

await main();
