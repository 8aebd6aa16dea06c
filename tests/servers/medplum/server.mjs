// Medplum fhir-router + MemoryRepository behind node:http: the project's second FHIR test server.
// Env: PORT (8081), HOST (127.0.0.1), BASE (/fhir), VALIDATE=0 (skip Medplum validation),
// TRANSACTIONS=0 (transaction Bundles run as batches), LINKS=0 (no fullUrl/paging links),
// DEFAULT_COUNT (20), AUTH_ISSUER (require Bearer JWTs from that issuer), AUTH_SCOPES=0 (do not
// check SMART scopes). See tests/servers/README.md.
import http from 'node:http';
import { badRequest, getStatus, normalizeOperationOutcome } from '@medplum/core';
import { AuthError, BearerVerifier } from './lib/auth.mjs';
import { checkScopes } from './lib/scopes.mjs';
import { capabilityStatement, createRepository, createRouter, loadDefinitions } from './lib/fhir.mjs';

const env = process.env;
const PORT = Number(env.PORT ?? 8081);
const HOST = env.HOST ?? '127.0.0.1';
const BASE = '/' + (env.BASE ?? '/fhir').replace(/^\/+|\/+$/g, '');
const DEFAULT_COUNT = Number(env.DEFAULT_COUNT ?? 20);
const LINKS = env.LINKS !== '0';
const CONFIG = { transactions: env.TRANSACTIONS !== '0' };
const AUTH_ISSUER = env.AUTH_ISSUER?.replace(/\/+$/, '') || undefined;
const AUTH_SCOPES = env.AUTH_SCOPES !== '0';
const FHIR_JSON = 'application/fhir+json; charset=utf-8';

loadDefinitions();
const repo = createRepository({ validate: env.VALIDATE !== '0' });
const router = createRouter();
let baseUrl = '';
let verifier;

// One request at a time: MemoryRepository has no isolation of its own.
let queue = Promise.resolve();
const serialized = (fn) => {
  const run = queue.then(fn, fn);
  queue = run.catch(() => undefined);
  return run;
};

function send(res, status, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': FHIR_JSON, ...headers });
  res.end(text);
}

const outcomeBody = (text, code = 'invalid') => ({
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code, details: { text } }],
});

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return undefined;
  if (String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
    return multiValue(new URLSearchParams(text)); // POST [type]/_search
  }
  return JSON.parse(text);
}

function multiValue(params) {
  const out = {};
  for (const [key, value] of params) {
    out[key] = key in out ? [].concat(out[key], value) : value;
  }
  return out;
}

// The issuer's SMART discovery document, also under the FHIR base (where clients look for it).
async function smartConfiguration(res) {
  if (!AUTH_ISSUER) return send(res, 404, outcomeBody('No authorization server configured', 'not-found'));
  const upstream = await fetch(`${AUTH_ISSUER}/.well-known/smart-configuration`);
  res.writeHead(upstream.status, { 'Content-Type': 'application/json' });
  res.end(await upstream.text());
}

function resourceHeaders(method, status, resource, isSearch) {
  const headers = {};
  const meta = resource?.meta;
  if (!resource || resource.resourceType === 'Bundle' || resource.resourceType === 'OperationOutcome' || isSearch) {
    return headers;
  }
  if (meta?.versionId) headers.ETag = `W/"${meta.versionId}"`;
  if (meta?.lastUpdated) headers['Last-Modified'] = new Date(meta.lastUpdated).toUTCString();
  if (method === 'POST' && (status === 201 || status === 200) && resource.id && meta?.versionId) {
    headers.Location = `${baseUrl}/${resource.resourceType}/${resource.id}/_history/${meta.versionId}`;
  }
  return headers;
}

// Default _count, then fullUrl on every entry and self/next/previous links (_offset form).
function withDefaultCount(params) {
  if (!params.has('_count') && !params.has('_summary')) params.set('_count', String(DEFAULT_COUNT));
  return params;
}

function addLinks(bundle, relPath, params) {
  for (const entry of bundle.entry ?? []) {
    const r = entry.resource;
    if (r?.id) entry.fullUrl = `${baseUrl}/${r.resourceType}/${r.id}`;
  }
  const count = Number(params.get('_count') ?? DEFAULT_COUNT);
  const offset = Number(params.get('_offset') ?? 0);
  const link = (relation, off) => {
    const p = new URLSearchParams(params);
    p.set('_offset', String(Math.max(0, off)));
    return { relation, url: `${baseUrl}/${relPath}?${p}` };
  };
  const links = [{ relation: 'self', url: `${baseUrl}/${relPath}?${params}` }];
  if (count > 0 && typeof bundle.total === 'number' && offset + count < bundle.total) links.push(link('next', offset + count));
  if (count > 0 && offset > 0) links.push(link('previous', offset - count));
  bundle.link = links;
}

// Returns the verified token claims (or {} without AUTH_ISSUER), or a string with the reason.
async function authenticate(req) {
  if (!verifier) return {};
  try {
    return await verifier.check(req.headers.authorization);
  } catch (err) {
    return err instanceof AuthError ? err.message : `Token check failed: ${err.message}`;
  }
}

function refuse(res, status, reason) {
  const code = status === 401 ? 'login' : 'forbidden';
  const headers = status === 401 ? { 'WWW-Authenticate': `Bearer realm="${baseUrl}", error="invalid_token"` } : {};
  send(res, status, outcomeBody(reason, code), headers);
}

async function handle(req, res) {
  const url = new URL(req.url, baseUrl);
  if (url.pathname !== BASE && !url.pathname.startsWith(BASE + '/')) {
    return send(res, 404, outcomeBody(`Not under ${BASE}`, 'not-found'));
  }
  const relPath = url.pathname.slice(BASE.length).replace(/^\/+|\/+$/g, '');
  const method = req.method;
  if (method === 'GET' && relPath === 'metadata') {
    return send(res, 200, capabilityStatement(baseUrl, AUTH_ISSUER));
  }
  if (method === 'GET' && relPath === '.well-known/smart-configuration') {
    return smartConfiguration(res);
  }
  const claims = await authenticate(req);
  if (typeof claims === 'string') return refuse(res, 401, claims);
  let body;
  try {
    body = await readBody(req);
  } catch (err) {
    return send(res, 400, badRequest(`Invalid JSON: ${err.message}`));
  }
  if (verifier && AUTH_SCOPES) {
    const forbidden = checkScopes(claims, method, relPath, url.searchParams, body);
    if (forbidden) return refuse(res, 403, forbidden);
  }
  const searchPost = method === 'POST' && /^[A-Z][A-Za-z]+\/_search$/.test(relPath) && body && !body.resourceType;
  const isSearch = LINKS && ((method === 'GET' && (relPath === '' || /^[A-Z][A-Za-z]+$/.test(relPath))) || searchPost);
  let params = new URLSearchParams(url.search);
  if (searchPost) {
    for (const [key, value] of Object.entries(body)) for (const v of [].concat(value)) params.append(key, v);
  }
  if (isSearch) params = withDefaultCount(params);
  if (searchPost) body = multiValue(params); // Medplum reads POST _search parameters from the body
  const query = searchPost ? '' : params.toString();
  const fhirReq = {
    method, url: relPath + (query ? `?${query}` : ''), pathname: '', body, params: {}, query: {},
    headers: req.headers, config: CONFIG,
  };
  const [outcome, resource] = await serialized(() => router.handleRequest(fhirReq, repo));
  const status = getStatus(outcome);
  const searchPath = relPath.replace(/\/_search$/, '');
  if (isSearch && resource?.resourceType === 'Bundle') addLinks(resource, searchPath, params);
  send(res, status, resource ?? outcome, resourceHeaders(method, status, resource, isSearch));
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    const outcome = normalizeOperationOutcome(err);
    if (!res.headersSent) send(res, getStatus(outcome) || 500, outcome);
    else res.end();
  });
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  const host = HOST.includes(':') ? `[${HOST}]` : HOST;
  baseUrl = `http://${host}:${port}${BASE}`;
  if (AUTH_ISSUER) verifier = new BearerVerifier(AUTH_ISSUER, baseUrl);
  console.error(`medplum test server listening${AUTH_ISSUER ? `, tokens from ${AUTH_ISSUER}` : ''}`);
  // The base URL goes to stdout, on its own line, once /metadata answers.
  fetch(`${baseUrl}/metadata`).then((r) => {
    if (!r.ok) throw new Error(`/metadata answered ${r.status}`);
    console.log(baseUrl);
  }).catch((err) => {
    console.error(`self-check failed: ${err.message}`);
    process.exit(1);
  });
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref(); // do not wait for lingering keep-alive clients
  });
}
