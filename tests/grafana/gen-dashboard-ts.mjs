// Used by check-dashboard.sh.
//
//   node gen-dashboard-ts.mjs gen OUT_DIR DASHBOARD.json...
//     Writes OUT_DIR/<name>.ts for each dashboard: its JSON text, verbatim, as the object literal
//     of `const dashboard: CheckedDashboard = ...;`, so that tsc applies the object-literal checks
//     (unknown keys, missing keys, types, literal unions). Everything before the JSON stays on
//     line 1, so line N of the .ts file is line N of the dashboard. Writes OUT_DIR/files.json,
//     the dashboard of each .ts file. A file that is not JSON is reported and makes it exit 1:
//     tsc would take comments, trailing commas and unquoted keys.
//
//   node gen-dashboard-ts.mjs map OUT_DIR < tsc-output
//     Prints tsc's output with each OUT_DIR/<name>.ts(L,C) turned into <dashboard>:L:C.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const [mode, outDir, ...dashboards] = process.argv.slice(2);
const prefix = (schemaModule) =>
  `import type { CheckedDashboard } from '${schemaModule}'; export const dashboard: CheckedDashboard = `;

if (mode === 'gen') {
  const here = dirname(fileURLToPath(import.meta.url));
  const schemaModule = relative(outDir, join(here, 'dashboard-schema')).split('\\').join('/');
  const files = {};
  let bad = 0;
  for (const given of dashboards) {
    // Shown relative to the current directory (the repository's root) when inside it.
    const inside = relative(process.cwd(), resolve(given));
    const dashboard = inside.startsWith('..') ? resolve(given) : inside;
    const text = readFileSync(given, 'utf8');
    try {
      JSON.parse(text);
    } catch (e) {
      console.error(`${dashboard}: not valid JSON: ${e.message}`);
      bad++;
      continue;
    }
    let name = basename(given, '.json').replace(/[^A-Za-z0-9_.-]/g, '_');
    while (files[`${name}.ts`]) name += '_';
    files[`${name}.ts`] = { dashboard, column1: prefix(schemaModule).length };
    writeFileSync(join(outDir, `${name}.ts`), `${prefix(schemaModule)}${text.trimEnd()};\n`);
  }
  writeFileSync(join(outDir, 'files.json'), JSON.stringify(files));
  process.exit(bad ? 1 : 0);
} else if (mode === 'map') {
  const files = JSON.parse(readFileSync(join(outDir, 'files.json'), 'utf8'));
  const out = readFileSync(0, 'utf8').replace(/^(.*?)\((\d+),(\d+)\)(?=: )/gm, (whole, path, line, column) => {
    const file = resolve(dirname(path)) === resolve(outDir) ? files[basename(path)] : undefined;
    if (!file) return whole;
    const col = Number(line) === 1 ? Math.max(1, Number(column) - file.column1) : Number(column);
    return `${file.dashboard}:${line}:${col}`;
  });
  process.stdout.write(out);
} else {
  console.error('usage: gen-dashboard-ts.mjs gen OUT_DIR DASHBOARD.json... | map OUT_DIR < tsc-output');
  process.exit(2);
}
