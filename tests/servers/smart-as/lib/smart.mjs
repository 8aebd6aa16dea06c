// SMART App Launch v2 pieces on top of oidc-provider: scopes, launch context, audiences, discovery.
import { errors } from 'oidc-provider';

export const OIDC_SCOPES = ['openid', 'fhirUser', 'offline_access', 'profile'];
// SMART v2 scopes (and v1 .read/.write) plus the launch scopes.
export const SMART_SCOPE =
  /^(launch(\/(patient|encounter))?|(patient|user|system)\/(\*|[A-Z][A-Za-z]+)\.(c?r?u?d?s?|read|write|\*)(\?.*)?)$/;

const trim = (url) => String(url).replace(/\/+$/, '');

/** Launch contexts, FHIR audiences and grant contexts of one server run (all in memory). */
export class SmartState {
  constructor({ defaultPatient, practitioner }) {
    this.defaultPatient = defaultPatient;
    this.practitioner = practitioner;
    this.audiences = [];
    this.launches = new Map(); // opaque launch id -> {patient, encounter}
    this.grants = new Map(); // grantId -> {patient, encounter, fhirBase}
  }

  addAudience(url) {
    const value = trim(url);
    if (!/^https?:\/\/[^\s]+$/.test(value)) throw new TypeError(`not an http(s) URL: ${url}`);
    if (!this.audiences.includes(value)) this.audiences.push(value);
    return value;
  }

  get defaultAudience() {
    return this.audiences[0];
  }

  isAudience(url) {
    return typeof url === 'string' && this.audiences.includes(trim(url));
  }

  /** `launch` is an id from POST /admin/launches or base64url(JSON {patient, encounter}). */
  decodeLaunch(value) {
    if (this.launches.has(value)) return this.launches.get(value);
    let context;
    try {
      context = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
    } catch {
      throw new errors.InvalidRequest('launch is neither a registered launch id nor base64url JSON');
    }
    if (!context || typeof context !== 'object' || (context.patient === undefined && context.encounter === undefined)) {
      throw new errors.InvalidRequest('launch context carries no patient or encounter');
    }
    return { patient: context.patient, encounter: context.encounter };
  }

  /** The authorize-endpoint validators for the SMART parameters (errors go to the redirect_uri). */
  extraParams() {
    return {
      aud: (_ctx, value) => {
        if (value === undefined) throw new errors.InvalidRequest('aud (the FHIR base URL) is required');
        if (!this.isAudience(value)) throw new errors.InvalidRequest(`aud ${value} is not a FHIR server known here`);
      },
      launch: (_ctx, value) => {
        if (value !== undefined) this.decodeLaunch(value);
      },
    };
  }

  /** The context for a new grant: launch parameter, or DEFAULT_PATIENT for launch/patient. */
  contextFor(params) {
    const scopes = String(params.scope ?? '').split(' ');
    const launched = params.launch ? this.decodeLaunch(params.launch) : {};
    const context = { fhirBase: trim(params.aud ?? this.defaultAudience), ...launched };
    if (!context.patient && scopes.includes('launch/patient')) context.patient = this.defaultPatient;
    return context;
  }
}

/** Builds and saves a Grant giving every requested OIDC and SMART scope (auto-consent). */
export async function autoGrant(provider, state, { accountId, clientId, params }) {
  const requested = String(params.scope ?? '').split(' ').filter(Boolean);
  const grant = new provider.Grant({ accountId, clientId });
  const oidc = requested.filter((s) => OIDC_SCOPES.includes(s));
  const smart = requested.filter((s) => SMART_SCOPE.test(s));
  if (oidc.length) grant.addOIDCScope(oidc.join(' '));
  if (oidc.includes('fhirUser')) grant.addOIDCClaims(['fhirUser']);
  const context = state.contextFor(params);
  if (smart.length) grant.addResourceScope(context.fhirBase, smart.join(' '));
  const grantId = await grant.save();
  state.grants.set(grantId, context);
  return grant;
}

export function smartConfiguration(issuer, state) {
  return {
    issuer,
    jwks_uri: `${issuer}/jwks`,
    authorization_endpoint: `${issuer}/auth`,
    token_endpoint: `${issuer}/token`,
    introspection_endpoint: `${issuer}/token/introspection`,
    registration_endpoint: `${issuer}/reg`,
    grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token'],
    token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic', 'none'],
    token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
    scopes_supported: ['openid', 'fhirUser', 'offline_access', 'launch', 'launch/patient', 'launch/encounter',
      'patient/*.rs', 'user/*.rs', 'system/*.rs', 'patient/*.cruds', 'user/*.cruds', 'system/*.cruds'],
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    capabilities: ['launch-ehr', 'launch-standalone', 'client-public', 'client-confidential-symmetric',
      'client-confidential-asymmetric', 'context-ehr-patient', 'context-ehr-encounter', 'context-standalone-patient',
      'sso-openid-connect', 'permission-v2', 'permission-v1', 'permission-patient', 'permission-user',
      'permission-offline'],
    fhir_audiences: state.audiences,
  };
}
