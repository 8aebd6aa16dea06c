#!/usr/bin/env node
// Arrange SUSHI output as a FHIR NPM package folder:
//   <out>/package.json, <out>/<Type>-<id>.json, <out>/example/<Type>-<id>.json, .index.json files.
// Usage: node arrange.js <sushi-resources-dir> <out-dir> <package-id> <version> <canonical>
'use strict';
const fs = require('fs');
const path = require('path');

const [src, out, packageId, version, canonical] = process.argv.slice(2);
if (!canonical) { console.error('usage: arrange.js <src> <out> <package-id> <version> <canonical>'); process.exit(2); }

// Drop empty arrays/objects (SUSHI writes e.g. ImplementationGuide.definition.parameter = []).
function prune(value) {
  if (Array.isArray(value)) {
    const items = value.map(prune).filter((v) => v !== undefined);
    return items.length ? items : undefined;
  }
  if (value && typeof value === 'object') {
    const obj = {};
    for (const [k, v] of Object.entries(value)) {
      const p = prune(v);
      if (p !== undefined) obj[k] = p;
    }
    return Object.keys(obj).length ? obj : undefined;
  }
  return value;
}

function write(dir, name, obj) {
  fs.writeFileSync(path.join(dir, name), JSON.stringify(obj, null, 2) + '\n');
}

function indexEntry(filename, res) {
  const info = { filename, resourceType: res.resourceType, id: res.id };
  for (const k of ['url', 'version', 'kind', 'type']) if (typeof res[k] === 'string') info[k] = res[k];
  return info;
}

const files = fs.readdirSync(src).filter((f) => f.endsWith('.json')).sort();
const igFile = files.find((f) => f.startsWith('ImplementationGuide-'));
const ig = JSON.parse(fs.readFileSync(path.join(src, igFile), 'utf8'));
const examples = new Set();
for (const r of ig.definition.resource) {
  if (r.exampleBoolean === true || r.exampleCanonical) examples.add(r.reference.reference.replace('/', '-') + '.json');
}
// The guide is data for servers and validators, not an IG Publisher input: no page tree.
delete ig.definition.page;
ig.license = 'CC0-1.0';

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.join(out, 'example'), { recursive: true });
const index = { main: [], example: [] };
for (const f of files) {
  const res = f === igFile ? ig : JSON.parse(fs.readFileSync(path.join(src, f), 'utf8'));
  const kind = examples.has(f) ? 'example' : 'main';
  write(kind === 'example' ? path.join(out, 'example') : out, f, prune(res));
  index[kind].push(indexEntry(f, res));
}
write(out, 'package.json', {
  name: packageId,
  version,
  canonical,
  url: canonical,
  title: ig.title || ig.name,
  description: ig.description || 'ETMI implementation guide',
  fhirVersions: ['4.0.1'],
  dependencies: { 'hl7.fhir.r4.core': '4.0.1' },
  author: ig.publisher,
  license: 'CC0-1.0',
  type: 'IG',
});
write(out, '.index.json', { 'index-version': 1, files: index.main });
write(path.join(out, 'example'), '.index.json', { 'index-version': 1, files: index.example });
console.log(`arranged ${index.main.length} artifacts and ${index.example.length} examples in ${out}`);
