// Runs real pixelmatch (npm) on the cases diff_crosscheck.py writes, for a differential test.
// usage: node diff_crosscheck.mjs <module dir> <cases.json>; writes <cases.json>.out
// cases: [{w, h, a, b (base64 RGBA), opts}] -> [{n, diff (base64 RGBA)}]
import fs from 'fs';
import path from 'path';
import { createRequire } from 'module';
import { pathToFileURL } from 'url';

const [moduleDir, casesFile] = process.argv.slice(2);
const pkg = JSON.parse(fs.readFileSync(path.join(moduleDir, 'package.json')));
const pixelmatch = pkg.type === 'module'
  ? (await import(pathToFileURL(path.join(path.resolve(moduleDir), pkg.main || 'index.js')).href)).default
  : createRequire(import.meta.url)(path.resolve(moduleDir));
const cases = JSON.parse(fs.readFileSync(casesFile));
const out = cases.map((c) => {
  const a = Buffer.from(c.a, 'base64');
  const b = Buffer.from(c.b, 'base64');
  const diff = Buffer.alloc(a.length);
  const n = pixelmatch(a, b, diff, c.w, c.h, c.opts);
  return { n, diff: diff.toString('base64') };
});
fs.writeFileSync(casesFile + '.out', JSON.stringify(out));
