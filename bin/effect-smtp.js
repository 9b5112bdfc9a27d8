#!/usr/bin/env node
// The installed command: runs the built CLI.
import "../dist/cli/main.js"
