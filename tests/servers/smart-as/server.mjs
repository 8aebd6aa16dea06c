// SMART authorization server for the tests: oidc-provider 9.13.3 plus the SMART App Launch v2 and
// Backend Services parts it lacks. Test server only (auto-login, auto-consent, open registration).
// Env: PORT (0 = any), HOST (127.0.0.1), FHIR_BASE (space-separated FHIR base URLs accepted as
// aud; default <issuer>/fhir), CLIENTS_FILE (JSON array of client metadata), DEFAULT_PATIENT,
// PRACTITIONER. Prints the issuer URL on a line of its own when ready. See tests/servers/README.md.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import Provider, { errors } from 'oidc-provider';
import { autoGrant, OIDC_SCOPES, SMART_SCOPE, SmartState, smartConfiguration } from './lib/smart.mjs';

const env = process.env;
const HOST = env.HOST ?? '127.0.0.1';
const MAX_ASSERTION_LIFETIME = 300;

const state = new SmartState({
  defaultPatient: env.DEFAULT_PATIENT ?? 'example-patient',
  practitioner: env.PRACTITIONER ?? 'practitioner-1',
});

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: 'as-rs256', alg: 'RS256', use: 'sig' };
}

function scopeSource(ctx) {
  const { params, entities } = ctx.oidc;
  return params?.scope ?? entities?.AuthorizationCode?.scope ?? entities?.RefreshToken?.scope ?? '';
}

function configuration(issuer) {
  const clients = env.CLIENTS_FILE ? JSON.parse(readFileSync(env.CLIENTS_FILE, 'utf8')) : [];
  return {
    clients,
    jwks: { keys: [signingKey()] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    scopes: OIDC_SCOPES,
    claims: { openid: ['sub'], fhirUser: ['fhirUser'], profile: ['name'] },
    conformIdTokenClaims: false,
    extraParams: state.extraParams(),
    pkce: { required: () => true },
    enabledJWA: { clientAuthSigningAlgValues: ['RS384', 'ES384', 'RS256', 'ES256'] },
    clientAuthMethods: ['none', 'client_secret_basic', 'private_key_jwt'],
    ttl: {
      AccessToken: 300, ClientCredentials: 300, AuthorizationCode: 60, IdToken: 3600,
      RefreshToken: 3600, Session: 3600, Grant: 3600, Interaction: 600,
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      registration: { enabled: true },
      resourceIndicators: {
        enabled: true,
        useGrantedResource: () => true,
        // SMART apps send aud, not resource; an unknown aud is refused by the aud check (invalid_request)
        defaultResource: (ctx, _client, oneOf) => {
          const aud = ctx.oidc.params?.aud;
          return oneOf ?? (state.isAudience(aud) ? aud : state.defaultAudience);
        },
        getResourceServerInfo: (ctx, resource) => {
          if (!state.isAudience(resource)) throw new errors.InvalidTarget(`${resource} is not a FHIR server known here`);
          const scope = String(scopeSource(ctx)).split(' ').filter((s) => SMART_SCOPE.test(s)).join(' ');
          return { scope, audience: resource, accessTokenTTL: 300, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
        },
      },
    },
    findAccount: (ctx, sub) => ({
      accountId: sub,
      claims: () => {
        const grantId = ctx.oidc?.entities?.Grant?.jti ?? ctx.oidc?.entities?.AuthorizationCode?.grantId;
        const base = state.grants.get(grantId)?.fhirBase ?? state.defaultAudience;
        return { sub, fhirUser: `${base}/Practitioner/${sub}`, name: sub };
      },
    }),
    loadExistingGrant: async (ctx) => {
      const { client, params, session, result } = ctx.oidc;
      const known = result?.consent?.grantId;
      if (known) return ctx.oidc.provider.Grant.find(known);
      return autoGrant(ctx.oidc.provider, state, { accountId: session.accountId, clientId: client.clientId, params });
    },
    extraTokenClaims: (_ctx, token) => {
      const context = state.grants.get(token.grantId);
      return context?.patient ? { patient: context.patient } : undefined;
    },
    assertJwtClientAuthClaimsAndHeader: (_ctx, claims) => {
      const now = Math.floor(Date.now() / 1000);
      if (typeof claims.exp !== 'number' || claims.exp - now > MAX_ASSERTION_LIFETIME) {
        throw new errors.InvalidClientAuth(`client assertion exp must be at most ${MAX_ASSERTION_LIFETIME}s ahead`);
      }
      if (!claims.jti) throw new errors.InvalidClientAuth('client assertion needs a jti');
    },
    // Loopback jwks_uri must work in tests: lift oidc-provider's SSRF guard (test server only).
    fetch: (url, options) => {
      delete options.dispatcher;
      return globalThis.fetch(url, options);
    },
    renderError: (ctx, out) => {
      ctx.type = 'application/json';
      ctx.body = out;
    },
  };
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

// Auto-login as PRACTITIONER and auto-consent to everything requested.
async function interaction(provider, ctx) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  let result;
  if (details.prompt.name === 'login') {
    result = { login: { accountId: state.practitioner } };
  } else {
    const grant = await autoGrant(provider, state, {
      accountId: details.session.accountId, clientId: details.params.client_id, params: details.params,
    });
    result = { consent: { grantId: grant.jti } };
  }
  await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
}

// Loopback admin: POST /admin/audiences {"audience": url}; POST /admin/launches {patient, encounter}.
async function admin(ctx) {
  const body = await readJson(ctx.req);
  ctx.type = 'application/json';
  ctx.status = 201;
  if (ctx.path === '/admin/audiences') {
    ctx.body = { audience: state.addAudience(body.audience), audiences: state.audiences };
  } else if (ctx.path === '/admin/launches') {
    const launch = randomBytes(12).toString('hex');
    state.launches.set(launch, { patient: body.patient, encounter: body.encounter });
    ctx.body = { launch };
  } else {
    ctx.status = 404;
    ctx.body = { error: 'not_found' };
  }
}

// SMART token response: launch context, need_patient_banner, and the full granted scope.
function decorateTokenResponse(ctx) {
  const { entities } = ctx.oidc ?? {};
  const source = entities?.AuthorizationCode ?? entities?.RefreshToken;
  const context = state.grants.get(entities?.Grant?.jti ?? source?.grantId);
  if (!source || !context) return;
  if (context.patient) ctx.body.patient = context.patient;
  if (context.encounter) ctx.body.encounter = context.encounter;
  ctx.body.need_patient_banner = false;
  if (source.scope) ctx.body.scope = source.scope;
}

function smartMiddleware(provider, issuer) {
  return async (ctx, next) => {
    const { path, method } = ctx;
    if (method === 'GET' && /^(\/fhir)?\/\.well-known\/smart-configuration$/.test(path)) {
      ctx.type = 'application/json';
      ctx.body = smartConfiguration(issuer, state);
      return;
    }
    if (method === 'GET' && path.startsWith('/interaction/')) {
      await interaction(provider, ctx);
      return;
    }
    if (method === 'POST' && path.startsWith('/admin/')) {
      try {
        await admin(ctx);
      } catch (err) {
        ctx.status = 400;
        ctx.body = { error: 'invalid_request', error_description: err.message };
      }
      return;
    }
    if (path === '/auth' && String(ctx.query.scope ?? '').split(' ').includes('offline_access') && !ctx.query.prompt) {
      // offline_access needs prompt=consent in oidc-provider; it is then auto-consented
      ctx.request.query = { ...ctx.query, prompt: 'consent' };
    }
    await next();
    if (path === '/token' && ctx.status === 200 && ctx.body?.access_token) decorateTokenResponse(ctx);
  };
}

function logErrors(provider) {
  for (const event of ['grant.error', 'authorization.error', 'server_error', 'introspection.error',
    'registration_create.error', 'jwks.error']) {
    provider.on(event, (_ctx, err) => {
      const detail = err.error_detail ?? err.cause?.message ?? '';
      console.error(`[${event}] ${err.name}: ${err.error_description ?? err.message}${detail ? ` (${detail})` : ''}`);
    });
  }
}

const server = http.createServer();
server.listen(Number(env.PORT ?? 0), HOST, () => {
  const { port } = server.address();
  const issuer = `http://${HOST.includes(':') ? `[${HOST}]` : HOST}:${port}`;
  for (const url of (env.FHIR_BASE ?? `${issuer}/fhir`).split(/\s+/).filter(Boolean)) state.addAudience(url);
  const provider = new Provider(issuer, configuration(issuer));
  provider.use(smartMiddleware(provider, issuer));
  logErrors(provider);
  server.on('request', provider.callback());
  console.error(`SMART authorization server ready; FHIR audiences: ${state.audiences.join(' ')}`);
  console.log(issuer);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref(); // do not wait for lingering keep-alive clients
  });
}
