// A certified relying party (openid-client, panva) against gatehouse's OpenID Provider.
// Prints {"authorize_url": …}; reads the callback URL the browser reached on stdin; then runs the
// code exchange with PKCE (validating the ID token itself), userinfo, a refresh and an
// introspection, and prints what it got as one JSON line.
// env: ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, ALG (EdDSA | RS256)
import * as client from 'openid-client';
import readline from 'node:readline';

const { ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI } = process.env;
const ALG = process.env.ALG || 'EdDSA';

try {
  const config = await client.discovery(
    new URL(ISSUER),
    CLIENT_ID,
    { id_token_signed_response_alg: ALG },
    client.ClientSecretBasic(CLIENT_SECRET),
    { execute: [client.allowInsecureRequests] },
  );
  const verifier = client.randomPKCECodeVerifier();
  const challenge = await client.calculatePKCECodeChallenge(verifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid email profile groups offline_access',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  console.log(JSON.stringify({ authorize_url: url.href }));
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const tokens = await client.authorizationCodeGrant(config, new URL(line.trim()), {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    const introspection = await client.tokenIntrospection(config, refreshed.access_token);
    let reuse = null;
    try {
      await client.refreshTokenGrant(config, tokens.refresh_token);
      reuse = 'accepted';
    } catch (e) {
      reuse = e.error || String(e);
    }
    const end_session = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: REDIRECT_URI.replace(/\/callback$/, '/bye'),
      state: 'bye-state',
    }).href;
    console.log(JSON.stringify({
      claims,
      userinfo,
      refreshed_claims: refreshed.claims() ?? null,
      refreshed_has_refresh: Boolean(refreshed.refresh_token),
      introspection,
      reuse,
      end_session,
    }));
    break;
  }
} catch (e) {
  console.log(JSON.stringify({ error: String(e), code: e.code || null, cause: e.cause ? String(e.cause.message || e.cause) : null }));
  process.exitCode = 1;
}
