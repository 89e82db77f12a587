// An independent OpenID provider for the console's browser test: npm's oidc-provider (OpenID
// Certified), issuing tokens the way a Keycloak realm does — roles in `realm_access.roles`,
// groups in `groups` — as JWT access tokens for the API's audience (resource indicators).
// Sign-in uses the provider's own login page (its development interactions).
//
// Settings come from the environment: PORT, REDIRECT_URI (the console), AUDIENCE (the API),
// CLIENT_ID (the console's public client). It prints `ready <issuer>` once it listens.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const need = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is not set`);
    process.exit(2);
  }
  return v;
};
const port = Number(need('PORT'));
const redirectUri = need('REDIRECT_URI');
const audience = need('AUDIENCE');
const clientId = need('CLIENT_ID');
const issuer = `http://127.0.0.1:${port}`;
// Resource indicators are URIs; the tokens' `aud` is the API's plain client id, as a realm's
// audience mapper writes it.
const resource = `api://${audience}`;

// Two people: an administrator with realm roles, and a researcher whose only TRE role comes
// from a group the API maps to TREUser.
const accounts = {
  admin: {
    name: 'Ada Admin', email: 'ada@idp.test', roles: ['TREAdmin', 'TREUser'], groups: [],
  },
  researcher: {
    name: 'Rosalind Researcher', email: 'rosalind@idp.test', roles: [], groups: ['tre-researchers'],
  },
};

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const key = { ...privateKey.export({ format: 'jwk' }), kid: 'test-idp', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    token_endpoint_auth_method: 'none',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  pkce: { required: () => true },
  jwks: { keys: [key] },
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email'] },
  features: {
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // The console asks for no resource: its tokens are for the API, as a realm's default
      // audience mapper would make them.
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => {
        if (indicator !== resource) throw new Provider.errors.InvalidTarget();
        return { scope: 'tre', audience, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
      },
    },
  },
  // A first-party client: no consent page, the grant covers what the console asks for.
  loadExistingGrant: async (ctx) => {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile email');
    grant.addResourceScope(resource, 'tre');
    await grant.save();
    return grant;
  },
  findAccount: async (ctx, id) => {
    const a = accounts[id];
    if (!a) return undefined;
    return {
      accountId: id,
      claims: async () => ({ sub: id, name: a.name, preferred_username: id, email: a.email }),
    };
  },
  extraTokenClaims: async (ctx, token) => {
    const a = accounts[token.accountId];
    if (!a || token.kind !== 'AccessToken') return undefined;
    return {
      name: a.name,
      preferred_username: token.accountId,
      email: a.email,
      realm_access: { roles: a.roles },
      groups: a.groups,
    };
  },
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
