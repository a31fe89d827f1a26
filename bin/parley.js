#!/usr/bin/env node
'use strict';
// Built by `npm install` (prepare) or `npm run build`.
require('../dist/src/interfaces/cli/parley-cli.js').runCli(process.argv);
