#!/usr/bin/env node
// The `overlay` executable: the compiled CLI lives in dist/ (built by `npm install` via prepare).
import '../dist/src/cli/main.js';
