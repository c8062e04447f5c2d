// An independent OAuth client for the Open API hub's tests: openid-client (FAPI 2.0 with DPoP
// and private_key_jwt). `keygen PRIV PUB` makes the application's ES256 key; `run ISSUER
// CLIENT_ID PRIV` walks discovery, a DPoP-bound client-credentials token, a protected call,
// introspection, revocation, a call after revocation, and a pushed authorisation request, and
// prints what each step returned as one JSON object. Each step's failure is reported, not
// thrown, so the Rust test asserts on the verdicts.
import * as client from 'openid-client';
import { writeFileSync, readFileSync } from 'node:fs';

const [mode, ...args] = process.argv.slice(2);

if (mode === 'keygen') {
  const [privFile, pubFile] = args;
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const priv = await crypto.subtle.exportKey('jwk', pair.privateKey);
  const pub = await crypto.subtle.exportKey('jwk', pair.publicKey);
  writeFileSync(privFile, JSON.stringify(priv));
  writeFileSync(pubFile, JSON.stringify({ keys: [{ kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y }] }));
  process.exit(0);
}

const [issuer, clientId, privFile, scope = 'rates'] = args;
const out = {};
const step = async (name, f) => {
  try {
    out[name] = { ok: true, value: await f() };
  } catch (e) {
    out[name] = { ok: false, error: e.error ?? e.code ?? e.name, message: e.error_description ?? e.message, status: e.status ?? e.response?.status,
      challenges: Array.isArray(e.cause) ? e.cause : undefined };
  }
  return out[name];
};

const privateKey = await crypto.subtle.importKey('jwk', JSON.parse(readFileSync(privFile, 'utf8')),
  { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
const config = await client.discovery(new URL(issuer), clientId, undefined,
  client.PrivateKeyJwt(privateKey), { execute: [client.allowInsecureRequests], algorithm: 'oauth2' });
out.discovery = { ok: true, value: config.serverMetadata() };
const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));

const token = await step('token', async () => {
  const t = await client.clientCredentialsGrant(config, { scope }, { DPoP });
  return { token_type: t.token_type, expires_in: t.expires_in, scope: t.scope, access_token: t.access_token };
});
const access = token.ok ? token.value.access_token : 'none';
const call = async () => {
  const r = await client.fetchProtectedResource(config, access, new URL(`${issuer}/api/v1/grant`), 'GET', undefined, undefined, { DPoP });
  return { status: r.status, body: r.status === 200 ? await r.json() : await r.text(),
    challenge: r.headers.get('www-authenticate'), retry_after: r.headers.get('retry-after'),
    ratelimit: r.headers.get('ratelimit') };
};
await step('call', call);
await step('call_2', call);
await step('call_3', call);
await step('introspect', () => client.tokenIntrospection(config, access));
await step('revoke', async () => { await client.tokenRevocation(config, access); return 'revoked'; });
await step('call_after_revoke', call);
await step('par', async () => {
  const url = await client.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: 'https://bank.example.az/cb', scope: 'income', state: 's1',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  }, { DPoP });
  return url.href;
});
console.log(JSON.stringify(out));
