// Times pixelmatch inside Node on raw RGBA files (no PNG decode), for benchmarks/diff_bench.py.
// usage: node diff_node_pixelmatch.js <pixelmatch module dir> <width> <height> <a.rgba> <b.rgba>
//        <includeAA 0|1> <output 0|1> <repeats>
// Runs at least <repeats> times and, like diff_bench.best_ms, goes on (up to 60 runs) while less
// than 1 s has been spent. The first run is the warm-up. Prints JSON {count, times_ms: [...]}.
'use strict';
const fs = require('fs');
const [moduleDir, w, h, fileA, fileB, includeAA, withOutput, repeats] = process.argv.slice(2);
const pixelmatch = require(require('path').resolve(moduleDir));
const width = Number(w);
const height = Number(h);
const img1 = fs.readFileSync(fileA);
const img2 = fs.readFileSync(fileB);
const times = [];
let count = -1;
let spent = 0;
for (let i = 0; i < Number(repeats) || (spent < 1000 && i < 60); i++) {
  const output = withOutput === '1' ? Buffer.alloc(width * height * 4) : null;
  const start = process.hrtime.bigint();
  count = pixelmatch(img1, img2, output, width, height, { includeAA: includeAA === '1' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  times.push(ms);
  if (i > 0) spent += ms;
}
console.log(JSON.stringify({ count, times_ms: times }));
