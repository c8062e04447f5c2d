// A real, certified OpenID provider (npm oidc-provider) for the portal's tests, on loopback.
// Usage: node oidc.mjs PORT REDIRECT_URI CLIENT_SECRET
// One confidential client `mygov` (client_secret_basic, PKCE required), signing ID tokens with
// RS256 (an ES256 key is published too), and demo accounts whose login is their personal id.
// Prints "oidc-provider listening on ISSUER" once it accepts connections.
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const [port, redirectUri, clientSecret] = process.argv.slice(2);
if (!port || !redirectUri || !clientSecret) {
  console.error('usage: node oidc.mjs PORT REDIRECT_URI CLIENT_SECRET');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const accounts = {
  AZ1234567: { sub: 'AZ1234567', name: 'Aysel Məmmədova', email: 'aysel@example.az', email_verified: true },
  AZ7654321: { sub: 'AZ7654321', name: 'Rəşad Əliyev', email: 'rashad@example.az', email_verified: true },
};

const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'mygov',
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  }],
  jwks: { keys: [{ ...rsa, kid: 'rsa-1', use: 'sig', alg: 'RS256' }, { ...ec, kid: 'ec-1', use: 'sig', alg: 'ES256' }] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
  // Put the profile claims into the ID token itself: the portal reads only the ID token.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const claims = accounts[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return claims; } };
  },
});
provider.proxy = false;
provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
