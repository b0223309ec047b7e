// Times pixelmatch inside Node on raw RGBA files (no PNG decode), for benchmarks/diff_bench.py.
// usage: node diff_node_pixelmatch.js <pixelmatch module dir> <width> <height> <a.rgba> <b.rgba>
//        <includeAA 0|1> <output 0|1> <repeats>
// prints JSON {count, times_ms: [...]}
'use strict';
const fs = require('fs');
const [moduleDir, w, h, fileA, fileB, includeAA, withOutput, repeats] = process.argv.slice(2);
const pixelmatch = require(moduleDir);
const width = Number(w);
const height = Number(h);
const img1 = fs.readFileSync(fileA);
const img2 = fs.readFileSync(fileB);
const times = [];
let count = -1;
for (let i = 0; i < Number(repeats); i++) {
  const output = withOutput === '1' ? Buffer.alloc(width * height * 4) : null;
  const start = process.hrtime.bigint();
  count = pixelmatch(img1, img2, output, width, height, { includeAA: includeAA === '1' });
  times.push(Number(process.hrtime.bigint() - start) / 1e6);
}
console.log(JSON.stringify({ count, times_ms: times }));
