// Compile Solidity with the pinned npm `solc` (solcjs, offline): standard JSON in on stdin, out on stdout.
// Imports resolve against the project's node_modules (and the paths given in argv).
const fs = require("fs");
const path = require("path");
const solc = require(process.env.POSMAN_SOLC_PACKAGE || "solc");
const roots = process.argv.slice(2);
function findImports(p) {
  for (const r of roots) {
    const f = path.join(r, p);
    if (fs.existsSync(f)) return { contents: fs.readFileSync(f, "utf8") };
  }
  return { error: "not found: " + p };
}
const input = fs.readFileSync(0, "utf8");
// solcjs 0.5.x takes the import callback itself; 0.6+ takes { import: callback }.
const legacy = /^0\.[45]\./.test(solc.version());
process.stdout.write(solc.compile(input, legacy ? findImports : { import: findImports }));
