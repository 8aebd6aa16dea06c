// SMART scope check for the Medplum test server (with AUTH_ISSUER, unless AUTH_SCOPES=0).
// Resource-type level only: v2 `c r u d s` letters and v1 `read`/`write`/`*`, any context
// (patient/user/system). With only patient/ scopes, a direct Patient/<id> access must match the
// token's `patient` claim. Not checked: compartments of other types, v2 query-constrained scopes
// (treated like the unconstrained scope).
const SCOPE = /^(patient|user|system)\/(\*|[A-Za-z]+)\.(\*|read|write|c?r?u?d?s?)(\?.*)?$/;
const V1 = { '*': 'cruds', read: 'rs', write: 'cud' };

export function parseScopes(scope) {
  return String(scope ?? '')
    .split(/\s+/)
    .map((s) => SCOPE.exec(s))
    .filter(Boolean)
    .map(([, context, type, perms]) => ({ context, type, perms: V1[perms] ?? perms }));
}

/** The [resourceType, letter] pairs a request needs; [] when it touches no data. */
export function requiredAccess(method, relPath, query, body) {
  const [type, second] = relPath.split('/');
  if (!type) {
    if (method === 'POST' && body?.resourceType === 'Bundle') return bundleAccess(body);
    const types = String(query.get('_type') ?? '*').split(',');
    return method === 'GET' ? types.map((t) => [t, 's']) : [];
  }
  if (type === 'metadata' || type.startsWith('$') || type.startsWith('.') || second === '$validate') return [];
  switch (method) {
    case 'GET':
      return [[type, second ? 'r' : 's']];
    case 'POST':
      return [[type, second === '_search' ? 's' : 'c']];
    case 'PUT':
    case 'PATCH':
      return [[type, 'u']];
    case 'DELETE':
      return [[type, 'd']];
    default:
      return [];
  }
}

function bundleAccess(bundle) {
  return (bundle.entry ?? []).flatMap((entry) => {
    const url = new URL(entry.request?.url ?? '', 'http://x/');
    return requiredAccess(String(entry.request?.method ?? 'GET').toUpperCase(), url.pathname.slice(1), url.searchParams, entry.resource);
  });
}

/** Returns undefined when allowed, otherwise the reason. */
export function checkScopes(claims, method, relPath, query, body) {
  const rules = parseScopes(claims.scope);
  for (const [type, letter] of requiredAccess(method, relPath, query, body)) {
    const matching = rules.filter((r) => (r.type === '*' || r.type === type) && r.perms.includes(letter));
    if (!matching.length) return `scope ${claims.scope ?? '(none)'} does not allow '${letter}' on ${type}`;
    const [, id] = relPath.split('/');
    const patientOnly = matching.every((r) => r.context === 'patient');
    if (patientOnly && type === 'Patient' && id && id !== claims.patient) {
      return `patient-level token for ${claims.patient ?? '(no patient)'} cannot access Patient/${id}`;
    }
  }
  return undefined;
}
