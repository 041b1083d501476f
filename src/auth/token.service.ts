import { createRemoteJWKSet, errors as joseErrors, jwtVerify, SignJWT, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { createHash, type KeyObject } from 'node:crypto';
import { AppError, unauthenticated } from '../common/errors';
import type { JwtConfig } from '../config';

/** Who is calling: the token's `sub`, and whether its `roles` claim holds `admin`. */
export interface AuthUser {
  id: string;
  roles: string[];
  isAdmin: boolean;
  /** When the token expires (ms since the epoch), when it was verified from a token. */
  expiresAt?: number;
}

const MAX_TOKEN_LENGTH = 8192;
const SUBJECT = /^[^\u0000-\u001f\u007f]{1,128}$/;

/**
 * Verifies bearer tokens with jose: HS256 with JWT_SECRET, RS256/ES256 with JWT_PUBLIC_KEY, or a JWKS URL.
 * Issuer and audience are checked when configured. Every failure is UNAUTHENTICATED with a short reason and
 * never echoes the token.
 */
/**
 * Verified tokens are remembered (least recently used first out) for at most five minutes and never past their
 * exp, so a rotated key or JWKS takes effect within minutes. Keyed by the token's SHA-256, never the token itself.
 */
const CACHE_SIZE = 10_000;
const CACHE_MS = 5 * 60_000;

/** A compact JWS whose three parts are canonical base64url: one token, one spelling (no padding, no spare bits). */
function canonical(token: string): boolean {
  const parts = token.split('.');
  return parts.length === 3 && parts.every((part) => /^[A-Za-z0-9_-]+$/.test(part) && Buffer.from(part, 'base64url').toString('base64url') === part);
}

export class TokenService {
  private readonly key: Uint8Array | KeyObject | JWTVerifyGetKey;
  private readonly algorithms: string[];
  private readonly verified = new Map<string, { user: AuthUser; expiresAt: number }>();

  constructor(private readonly config: JwtConfig) {
    if (config.kind === 'secret') {
      this.key = config.secret;
      this.algorithms = ['HS256'];
    } else if (config.kind === 'publicKey') {
      this.key = config.key;
      this.algorithms = config.algorithms;
    } else {
      this.key = createRemoteJWKSet(config.url, { timeoutDuration: 5000, cooldownDuration: 30_000 });
      this.algorithms = ['RS256', 'ES256'];
    }
  }

  /** Reads `Authorization: Bearer <token>`; null when there is no header. */
  static bearer(header: string | undefined): string | null {
    if (header === undefined || header === '') return null;
    const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/i.exec(header);
    if (!match) throw unauthenticated('The Authorization header must be "Bearer <token>"');
    return match[1];
  }

  async verify(token: string): Promise<AuthUser> {
    if (token.length > MAX_TOKEN_LENGTH) throw unauthenticated('Token is too long');
    const key = createHash('sha256').update(token).digest('base64url');
    const cached = this.verified.get(key);
    if (cached) {
      this.verified.delete(key);
      if (cached.expiresAt > Date.now()) {
        this.verified.set(key, cached); // most recently used: last out
        return cached.user;
      }
    }
    // Checked on a miss only: a cached key is the hash of a token that passed, and any other spelling misses.
    if (!canonical(token)) throw unauthenticated('Token is not a compact JWT in canonical base64url');
    return this.verifyNow(token, key);
  }

  private async verifyNow(token: string, cacheKey: string): Promise<AuthUser> {
    let payload: JWTPayload;
    try {
      const options = {
        algorithms: this.algorithms,
        issuer: this.config.issuer ?? undefined,
        audience: this.config.audience ?? undefined,
        clockTolerance: 5,
        requiredClaims: ['exp'],
      };
      const key = this.key;
      ({ payload } =
        typeof key === 'function' ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options));
    } catch (err) {
      throw unauthenticated(reason(err));
    }
    if (typeof payload.sub !== 'string' || !SUBJECT.test(payload.sub)) {
      throw unauthenticated('Token has no usable sub claim');
    }
    const rolesClaim = (payload as { roles?: unknown }).roles;
    const roles = Array.isArray(rolesClaim) ? rolesClaim.filter((r): r is string => typeof r === 'string').slice(0, 32) : [];
    const user: AuthUser = { id: payload.sub, roles, isAdmin: roles.includes('admin'), ...(typeof payload.exp === 'number' ? { expiresAt: payload.exp * 1000 } : {}) };
    if (typeof payload.exp === 'number') {
      if (this.verified.size >= CACHE_SIZE) this.verified.delete(this.verified.keys().next().value as string);
      this.verified.set(cacheKey, { user, expiresAt: Math.min(payload.exp * 1000, Date.now() + CACHE_MS) });
    }
    return user;
  }
}

function reason(err: unknown): string {
  if (err instanceof AppError) return err.message;
  if (err instanceof joseErrors.JWTExpired) return 'Token has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    return err.reason === 'missing' ? `Token has no ${err.claim} claim` : `Token claim check failed: ${err.claim}`;
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'Token signature is invalid';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'Token algorithm is not allowed';
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSNoMatchingKey) return 'Token key is unknown';
  return 'Token is malformed';
}

/** Issues an HS256 token (development, tests and the benchmark). */
export function issueToken(
  secret: Uint8Array,
  claims: { sub: string; roles?: string[] },
  options: { expiresIn?: string; issuer?: string | null; audience?: string | null } = {},
): Promise<string> {
  let jwt = new SignJWT({ roles: claims.roles ?? [] })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '1h');
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  return jwt.sign(secret);
}
