// The OpenID provider that gatehouse's sign-in tests (tests/it/oauth.rs) talk to: npm `oidc-provider`
// with login and consent completed automatically, so a test can run the whole code flow with
// plain HTTP redirects. Install: `npm install --prefix tests/peers/oidc-op` (scripts/test does).
//
// Environment:
//   PORT          port to listen on (0 or unset: any free port); the issuer is printed on stdout
//                 as the line "OP listening on http://127.0.0.1:<port>"
//   RP_REDIRECTS  comma-separated redirect URIs every client may use
//
// Accounts: `login_hint` picks the account id (default `alice`). Any id works and gets
// `<id>@example.test` with email_verified=true, except ids starting with
//   unverified…  email_verified=false
//   noflag…      an email without the email_verified claim
//   noemail…     no email at all
//   deny…        the provider answers the client with error=access_denied
import http from 'node:http';
import Provider from 'oidc-provider';

const server = http.createServer();
await new Promise((resolve) => server.listen(Number(process.env.PORT || process.env.OP_PORT || 0), '127.0.0.1', resolve));
const ISSUER = `http://127.0.0.1:${server.address().port}`;
const REDIRECTS = (process.env.RP_REDIRECTS || process.env.RP_REDIRECT || 'http://127.0.0.1:8080/auth/oidc/callback')
  .split(',').map((s) => s.trim()).filter(Boolean);

function claimsOf(id) {
  const claims = { sub: id, name: `Test ${id}`, preferred_username: id };
  if (id.startsWith('noemail')) return claims;
  claims.email = `${id}@example.test`;
  if (id.startsWith('unverified')) claims.email_verified = false;
  else if (!id.startsWith('noflag')) claims.email_verified = true;
  return claims;
}

const client = (client_id) => ({
  client_id, client_secret: `${client_id}-secret`,
  redirect_uris: REDIRECTS, grant_types: ['authorization_code'], response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
});

const provider = new Provider(ISSUER, {
  clients: [client('authsvc'), client('generic')],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'] },
  scopes: ['openid', 'email', 'profile'],
  cookies: { keys: ['test-cookie-key-not-secret'] },
  pkce: { required: () => false },              // S256 is still enforced when the RP sends it
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return claimsOf(id); } };
  },
});

provider.use(async (ctx, next) => {                // auto-complete login, then consent
  const m = ctx.path.match(/^\/interaction\/([^/]+)$/);
  if (!m || ctx.method !== 'GET') return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params, session } = details;
  const account = String(params.login_hint || 'alice');
  let result;
  if (account.startsWith('deny')) {
    result = { error: 'access_denied', error_description: 'the user said no' };
  } else if (prompt.name === 'login') {
    result = { login: { accountId: account } };
  } else {
    const grant = details.grantId ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    result = { consent: { grantId: await grant.save() } };
  }
  return provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
});

server.on('request', provider.callback());
console.log(`OP listening on ${ISSUER}`);
