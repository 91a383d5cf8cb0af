// Passkeys on gatehouse's pages: add one (account security), sign in with one (/login), answer
// the second step with one (/login/mfa), and copy recovery codes. Everything else on these
// pages works without JavaScript.
(function () {
  "use strict";

  function fromB64url(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64url(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(o) {
    var pk = Object.assign({}, o.publicKey);
    pk.challenge = fromB64url(pk.challenge);
    pk.user = Object.assign({}, pk.user, { id: fromB64url(pk.user.id) });
    pk.excludeCredentials = (pk.excludeCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: fromB64url(c.id) });
    });
    return { publicKey: pk };
  }

  function requestOptions(o) {
    var pk = Object.assign({}, o.publicKey);
    pk.challenge = fromB64url(pk.challenge);
    pk.allowCredentials = (pk.allowCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: fromB64url(c.id) });
    });
    return { publicKey: pk };
  }

  function credentialJson(cred) {
    if (typeof cred.toJSON === "function") return cred.toJSON();
    var r = cred.response, response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      if (r.userHandle) response.userHandle = toB64url(r.userHandle);
    }
    return {
      id: cred.id, rawId: toB64url(cred.rawId), type: cred.type, response: response,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    };
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) throw new Error((data.error && data.error.message) || res.statusText);
        return data;
      });
    });
  }

  function showError(el, fallback, err) {
    if (!el) return;
    el.textContent = (err && err.message) || fallback;
    el.hidden = false;
  }

  var supported = !!(window.PublicKeyCredential && navigator.credentials);

  // Sign in with a passkey alone (/login).
  var signIn = document.getElementById("passkey-sign-in");
  if (signIn && supported) {
    signIn.hidden = false;
    signIn.addEventListener("click", function () {
      var error = document.getElementById("passkey-sign-in-error");
      post("/api/v1/auth/passkey/options").then(function (o) {
        return navigator.credentials.get(requestOptions(o.options)).then(function (cred) {
          return post("/api/v1/auth/passkey", { challenge_id: o.challenge_id, credential: credentialJson(cred) });
        });
      }).then(function () {
        window.location.assign(signIn.dataset.returnTo || "/account");
      }).catch(function (e) { showError(error, signIn.dataset.error, e); });
    });
  }

  // Answer the second step with a passkey (/login/mfa).
  var step = document.getElementById("mfa-passkey");
  if (step && supported) {
    step.hidden = false;
    step.addEventListener("click", function () {
      var error = document.getElementById("mfa-passkey-error");
      var token = step.dataset.mfaToken;
      post("/api/v1/auth/login/mfa/passkey", { mfa_token: token }).then(function (o) {
        return navigator.credentials.get(requestOptions(o.options)).then(function (cred) {
          return post("/api/v1/auth/login/mfa", {
            mfa_token: token, challenge_id: o.challenge_id, credential: credentialJson(cred)
          });
        });
      }).then(function () {
        window.location.assign(step.dataset.returnTo || "/account");
      }).catch(function (e) { showError(error, step.dataset.error, e); });
    });
  }

  // Add a passkey (/account/security).
  var add = document.getElementById("passkey-add");
  if (add) {
    add.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var error = document.getElementById("passkey-add-error");
      if (!supported) { showError(error, add.dataset.error); return; }
      var password = add.querySelector("[name=password]").value;
      var name = add.querySelector("[name=name]").value;
      var body = password ? { password: password } : {};
      post("/api/v1/users/me/passkeys/options", body).then(function (o) {
        return navigator.credentials.create(creationOptions(o.options)).then(function (cred) {
          return post("/api/v1/users/me/passkeys", {
            challenge_id: o.challenge_id, name: name, credential: credentialJson(cred)
          });
        });
      }).then(function () {
        window.location.assign("/account/security?done=passkey_added");
      }).catch(function (e) { showError(error, add.dataset.error, e); });
    });
  }

  // Copy the recovery codes.
  var copy = document.getElementById("copy-codes");
  if (copy && navigator.clipboard) {
    copy.hidden = false;
    copy.addEventListener("click", function () {
      var codes = Array.prototype.map.call(
        document.querySelectorAll("#recovery-codes code"), function (c) { return c.textContent; });
      navigator.clipboard.writeText(codes.join("\n")).then(function () {
        copy.textContent = copy.dataset.copied;
      });
    });
  }
})();
