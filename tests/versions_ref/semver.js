// Reference for SemVer: reads "a<TAB>b" lines, prints npm semver.compare (-1/0/1) or E when
// either side is not a valid (strict) semver. argv: node semver.js SEMVER_MODULE_DIR FILE
const semver = require(process.argv[2]);
const fs = require("fs");
const lines = fs.readFileSync(process.argv[3], "utf8").split("\n").filter((l) => l.length);
const out = lines.map((l) => {
  const [a, b] = l.split("\t");
  if (!semver.valid(a) || !semver.valid(b)) return "E";
  return String(semver.compare(a, b));
});
process.stdout.write(out.join("\n") + "\n");
