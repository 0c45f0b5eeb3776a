// Compile Solidity with the pinned npm `solc` (solcjs, offline): standard JSON in on stdin, out on stdout.
// Imports resolve against the project's node_modules (and the paths given in argv).
const fs = require("fs");
const path = require("path");
const solc = require("solc");
const roots = process.argv.slice(2);
function findImports(p) {
  for (const r of roots) {
    const f = path.join(r, p);
    if (fs.existsSync(f)) return { contents: fs.readFileSync(f, "utf8") };
  }
  return { error: "not found: " + p };
}
const input = fs.readFileSync(0, "utf8");
process.stdout.write(solc.compile(input, { import: findImports }));
