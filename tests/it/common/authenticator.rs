//! A software passkey authenticator for tests and the benchmark: one P-256 credential,
//! attestation `none` in CBOR, real ECDSA signatures, and knobs to make an answer wrong.
#![allow(dead_code)]

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::signature::Signer;
use serde_cbor_2::Value as Cbor;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const UP: u8 = 0x01;
pub const UV: u8 = 0x04;
pub const AT: u8 = 0x40;

/// A platform authenticator holding one discoverable credential.
pub struct Authenticator {
    pub key: p256::ecdsa::SigningKey,
    pub cred_id: Vec<u8>,
    pub user_handle: Vec<u8>,
    pub counter: u32,
}

/// How an assertion departs from the honest one.
#[derive(Default)]
pub struct Tamper {
    pub origin: Option<String>,
    pub rp_id: Option<String>,
    pub flags: Option<u8>,
    pub counter: Option<u32>,
    pub user_handle: Option<Vec<u8>>,
    pub challenge: Option<String>,
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < n {
        out.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    out.truncate(n);
    out
}

impl Authenticator {
    pub fn new() -> Self {
        let key = loop {
            if let Ok(k) = p256::ecdsa::SigningKey::from_slice(&random_bytes(32)) {
                break k;
            }
        };
        Self {
            key,
            cred_id: random_bytes(32),
            user_handle: Vec::new(),
            counter: 0,
        }
    }

    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.verifying_key().to_sec1_point(false);
        let bytes = point.as_bytes();
        let mut map = BTreeMap::new();
        map.insert(Cbor::Integer(1), Cbor::Integer(2)); // kty: EC2
        map.insert(Cbor::Integer(3), Cbor::Integer(-7)); // alg: ES256
        map.insert(Cbor::Integer(-1), Cbor::Integer(1)); // crv: P-256
        map.insert(Cbor::Integer(-2), Cbor::Bytes(bytes[1..33].to_vec()));
        map.insert(Cbor::Integer(-3), Cbor::Bytes(bytes[33..65].to_vec()));
        serde_cbor_2::to_vec(&Cbor::Map(map)).unwrap()
    }

    fn auth_data(rp_id: &str, flags: u8, counter: u32) -> Vec<u8> {
        let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
        data.push(flags);
        data.extend_from_slice(&counter.to_be_bytes());
        data
    }

    /// The answer to `navigator.credentials.create(options)`, in `toJSON()` form.
    pub fn register(&mut self, options: &Value, origin: &str, flags: u8) -> Value {
        let pk = &options["publicKey"];
        let rp_id = pk["rp"]["id"].as_str().unwrap();
        self.user_handle = B64.decode(pk["user"]["id"].as_str().unwrap()).unwrap();
        let client_data = json!({
            "type": "webauthn.create",
            "challenge": pk["challenge"],
            "origin": origin,
            "crossOrigin": false,
        })
        .to_string();
        let mut auth_data = Self::auth_data(rp_id, flags | AT, self.counter);
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID
        auth_data.extend_from_slice(&(self.cred_id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&self.cred_id);
        auth_data.extend_from_slice(&self.cose_key());
        let mut att = BTreeMap::new();
        att.insert(Cbor::Text("fmt".into()), Cbor::Text("none".into()));
        att.insert(Cbor::Text("attStmt".into()), Cbor::Map(BTreeMap::new()));
        att.insert(Cbor::Text("authData".into()), Cbor::Bytes(auth_data));
        let attestation = serde_cbor_2::to_vec(&Cbor::Map(att)).unwrap();
        json!({
            "id": B64.encode(&self.cred_id),
            "rawId": B64.encode(&self.cred_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": B64.encode(client_data.as_bytes()),
                "attestationObject": B64.encode(attestation),
                "transports": ["internal"],
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {"credProps": {"rk": true}},
        })
    }

    /// The answer to `navigator.credentials.get(options)`, honest unless `tamper` says otherwise.
    pub fn assert(&mut self, options: &Value, origin: &str, tamper: Tamper) -> Value {
        let pk = &options["publicKey"];
        let rp_id = tamper
            .rp_id
            .unwrap_or_else(|| pk["rpId"].as_str().unwrap().to_string());
        self.counter += 1;
        let counter = tamper.counter.unwrap_or(self.counter);
        let client_data = json!({
            "type": "webauthn.get",
            "challenge": tamper.challenge.unwrap_or_else(|| pk["challenge"].as_str().unwrap().to_string()),
            "origin": tamper.origin.unwrap_or_else(|| origin.to_string()),
            "crossOrigin": false,
        })
        .to_string();
        let auth_data = Self::auth_data(&rp_id, tamper.flags.unwrap_or(UP | UV), counter);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(client_data.as_bytes()));
        let signature: p256::ecdsa::Signature = self.key.sign(&signed);
        let handle = tamper
            .user_handle
            .unwrap_or_else(|| self.user_handle.clone());
        json!({
            "id": B64.encode(&self.cred_id),
            "rawId": B64.encode(&self.cred_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": B64.encode(client_data.as_bytes()),
                "authenticatorData": B64.encode(auth_data),
                "signature": B64.encode(signature.to_der().as_bytes()),
                "userHandle": B64.encode(handle),
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        })
    }
}
