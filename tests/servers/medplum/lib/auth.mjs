// Bearer-token check for the Medplum test server (only when AUTH_ISSUER is set): the token must be
// a JWT signed by a key from the issuer's JWKS, with iss = the issuer, a future exp and an aud equal
// to this server's base URL. Uses node:crypto only.
import { constants, createPublicKey, verify } from 'node:crypto';

const HASHES = {
  RS256: 'sha256', RS384: 'sha384', RS512: 'sha512',
  PS256: 'sha256', PS384: 'sha384', PS512: 'sha512',
  ES256: 'sha256', ES384: 'sha384', ES512: 'sha512',
};
const LEEWAY_SECONDS = 5;

export class AuthError extends Error {}

const trimSlash = (s) => s.replace(/\/+$/, '');
const b64json = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

export class BearerVerifier {
  constructor(issuer, audience) {
    this.issuer = trimSlash(issuer);
    this.audience = trimSlash(audience);
    this.keys = new Map();
    this.jwksUri = undefined;
    this.lastFetch = 0;
  }

  /** Returns the verified claims, or throws AuthError with the reason. */
  async check(authorization) {
    const match = /^Bearer\s+([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(authorization ?? '');
    if (!match) {
      throw new AuthError(authorization ? 'Authorization is not a Bearer JWT' : 'Missing bearer token');
    }
    const [, h, p, s] = match;
    let header, claims;
    try {
      header = b64json(h);
      claims = b64json(p);
    } catch {
      throw new AuthError('Undecodable token');
    }
    const hash = HASHES[header.alg];
    if (!hash) {
      throw new AuthError(`Unsupported alg ${header.alg}`);
    }
    const jwk = await this.key(header.kid);
    const key = createPublicKey({ key: jwk, format: 'jwk' });
    const opts = { key };
    if (header.alg.startsWith('ES')) opts.dsaEncoding = 'ieee-p1363'; // JWS uses raw r||s signatures
    if (header.alg.startsWith('PS')) {
      Object.assign(opts, { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(header.alg.slice(2)) / 8 });
    }
    if (!verify(hash, Buffer.from(`${h}.${p}`), opts, Buffer.from(s, 'base64url'))) {
      throw new AuthError('Bad signature');
    }
    this.checkClaims(claims);
    return claims;
  }

  checkClaims(claims) {
    const now = Math.floor(Date.now() / 1000);
    if (typeof claims.iss !== 'string' || trimSlash(claims.iss) !== this.issuer) {
      throw new AuthError(`Wrong issuer ${claims.iss}`);
    }
    if (typeof claims.exp !== 'number' || claims.exp + LEEWAY_SECONDS < now) {
      throw new AuthError('Token expired or without exp');
    }
    if (typeof claims.nbf === 'number' && claims.nbf - LEEWAY_SECONDS > now) {
      throw new AuthError('Token not yet valid');
    }
    const auds = (Array.isArray(claims.aud) ? claims.aud : [claims.aud]).filter((a) => typeof a === 'string');
    if (!auds.some((a) => trimSlash(a) === this.audience)) {
      throw new AuthError(`Token audience ${JSON.stringify(claims.aud)} is not ${this.audience}`);
    }
  }

  async key(kid) {
    if (!this.keys.has(kid) && Date.now() - this.lastFetch > 1000) {
      await this.fetchKeys();
    }
    const jwk = this.keys.get(kid) ?? (kid === undefined && this.keys.size === 1 ? [...this.keys.values()][0] : undefined);
    if (!jwk) {
      throw new AuthError(`No key for kid ${kid}`);
    }
    return jwk;
  }

  async fetchKeys() {
    this.lastFetch = Date.now();
    this.jwksUri ??= await this.discoverJwksUri();
    const res = await fetch(this.jwksUri);
    if (!res.ok) {
      throw new AuthError(`JWKS fetch failed: ${res.status}`);
    }
    const { keys = [] } = await res.json();
    this.keys = new Map(keys.filter((k) => k.use !== 'enc').map((k) => [k.kid, k]));
  }

  async discoverJwksUri() {
    for (const path of ['/.well-known/smart-configuration', '/.well-known/openid-configuration']) {
      try {
        const res = await fetch(this.issuer + path);
        if (res.ok) {
          const doc = await res.json();
          if (doc.jwks_uri) return doc.jwks_uri;
        }
      } catch {
        // fall through to the next document, then to <issuer>/jwks
      }
    }
    return `${this.issuer}/jwks`;
  }
}
