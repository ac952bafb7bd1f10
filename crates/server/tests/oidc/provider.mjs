// The OpenID provider quire's sign-in tests run: oidc-provider, a certified implementation,
// with its development login and consent pages (any login, any password).
//
// Usage: node provider.mjs
// Prints the issuer URL on its first line of output; the first line on stdin is
// `redirect URI`, the relying party's callback (answered `ok`); then serves until stdin closes.
//
// The account signed in as `LOGIN` has subject `LOGIN`; with BASE the part of LOGIN before any
// `#` (so `ann#2` is another subject with ann's email), its email is BASE when that holds an `@`
// (else `BASE@example.test`), verified unless BASE starts with `unverified`, and its
// preferred_username is BASE's part before any `@`.
//
// A line on stdin changes how the next token response's ID token is made, so the relying
// party's checks can be seen to refuse what a misbehaving provider or a man in the middle
// would send; each is answered `ok` on stdout:
//   tamper         the payload changed after signing (the signature no longer matches)
//   nonce          re-signed with another nonce
//   audience       re-signed for another client
//   expired        re-signed with an expiry an hour ago
//   unknown-kid    re-signed with a key the provider never published
//   rotate         the provider starts signing with a new key it publishes from now on
//   honest         back to the provider's own tokens (the default)
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import Provider from 'oidc-provider';
import { SignJWT, exportJWK, generateKeyPair, decodeJwt, decodeProtectedHeader } from 'jose';

async function signingKey(kid) {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  const published = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { privateKey, jwk, published };
}

const first = await signingKey('first');
const second = await signingKey('second');
const stranger = await signingKey('stranger');

let mode = 'honest';
let rotated = false;

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

function start(redirectUri) {
  const provider = new Provider(issuer, {
    clients: [{
      client_id: 'quire',
      client_secret: 'quire-test-client-secret',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [first.jwk] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['preferred_username', 'name'],
    },
    // Scope claims in the ID token as well as at the userinfo endpoint, as most providers do.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['quire-test-cookie-key'] },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          const base = id.split('#')[0];
          const email = base.includes('@') ? base : `${base}@example.test`;
          return {
            sub: id,
            email,
            email_verified: !base.startsWith('unverified'),
            preferred_username: base.split('@')[0],
            name: base,
          };
        },
      };
    },
  });

  async function resign(token, changes, key, kid) {
    const claims = { ...decodeJwt(token), ...changes };
    return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(key);
  }

  async function misbehave(idToken) {
    const now = Math.floor(Date.now() / 1000);
    switch (rotated && mode === 'honest' ? 'rotated' : mode) {
      case 'tamper': {
        const [header, payload, signature] = idToken.split('.');
        const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
        claims.email = 'someone.else@example.test';
        const forged = Buffer.from(JSON.stringify(claims)).toString('base64url');
        return `${header}.${forged}.${signature}`;
      }
      case 'nonce':
        return resign(idToken, { nonce: 'not-the-nonce-quire-sent' }, first.privateKey, 'first');
      case 'audience':
        return resign(idToken, { aud: 'another-client' }, first.privateKey, 'first');
      case 'expired':
        return resign(idToken, { iat: now - 7200, exp: now - 3600 }, first.privateKey, 'first');
      case 'unknown-kid':
        return resign(idToken, {}, stranger.privateKey, 'stranger');
      case 'rotated':
        return resign(idToken, {}, second.privateKey, 'second');
      default:
        return idToken;
    }
  }

  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/token' && ctx.status === 200 && ctx.body?.id_token) {
      ctx.body = { ...ctx.body, id_token: await misbehave(ctx.body.id_token) };
    }
    if (ctx.path === '/jwks' && ctx.status === 200 && rotated) {
      const body = typeof ctx.body === 'string' ? JSON.parse(ctx.body) : ctx.body;
      ctx.body = { keys: [...body.keys, second.published] };
    }
  });

  server.on('request', provider.callback());
}

console.log(issuer);

const commands = createInterface({ input: process.stdin });
commands.on('line', (line) => {
  const command = line.trim();
  if (command.startsWith('redirect ')) {
    start(command.slice('redirect '.length));
  } else if (command === 'rotate') {
    rotated = true;
    mode = 'honest';
  } else {
    mode = command;
  }
  console.log('ok');
});
commands.on('close', () => process.exit(0));
