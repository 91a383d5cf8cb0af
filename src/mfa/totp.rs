//! TOTP (RFC 6238) through `totp-rs`: SHA-1, 6 digits, 30-second steps, one step of drift
//! either way; the QR code of the `otpauth://` URI as SVG through `qrcode`.

use totp_rs::{Algorithm, Builder, Secret, Totp};

/// Secrets are 20 random bytes (160 bits, RFC 4226's recommendation).
pub const SECRET_LEN: usize = 20;

/// A fresh random secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_LEN];
    crate::tokens::fill_random(&mut secret);
    secret
}

/// The generator for `secret`, naming `issuer` and `account` in its URI. `None` only for
/// secrets of the wrong length or names with a colon (which the URI format cannot carry).
pub fn generator(secret: &[u8], issuer: &str, account: &str) -> Option<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(Secret::from(secret.to_vec()))
        .with_issuer(Some(issuer.replace(':', " ")))
        .with_account_name(account.replace(':', " "))
        .build()
        .ok()
}

/// The time step of `code` at `now` (within one step of drift), if it is right. Anything that is
/// not six ASCII digits is simply wrong.
pub fn matching_step(totp: &Totp, code: &str, now: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = u64::try_from(now).ok()?;
    totp.check(code, now).and_then(|s| i64::try_from(s).ok())
}

/// The base32 secret (no padding) as authenticator apps take it typed in.
pub fn base32(totp: &Totp) -> String {
    totp.secret().to_base32()
}

pub fn otpauth_uri(totp: &Totp) -> String {
    totp.to_url().unwrap_or_default()
}

/// The URI as an SVG QR code (no external image, so the page can inline it).
pub fn qr_svg(uri: &str) -> String {
    use qrcode::render::svg;
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<svg::Color<'_>>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .dark_color(svg::Color("#000000"))
                .light_color(svg::Color("#ffffff"))
                .build();
            // The XML declaration has no place inside an HTML page, where the SVG is inlined.
            match svg.find("<svg") {
                Some(at) => svg[at..].to_string(),
                None => svg,
            }
        }
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_within_one_step_and_name_their_step() {
        let secret = new_secret();
        let totp = generator(&secret, "gatehouse", "a@example.com");
        let Some(totp) = totp else {
            panic!("a 20-byte secret builds")
        };
        let now = 1_700_000_000i64;
        let code = totp.generate(now as u64).to_string();
        assert_eq!(matching_step(&totp, &code, now), Some(now / 30));
        assert_eq!(matching_step(&totp, &code, now + 30), Some(now / 30));
        assert_eq!(matching_step(&totp, &code, now - 30), Some(now / 30));
        assert_eq!(matching_step(&totp, &code, now + 90), None);
        assert_eq!(matching_step(&totp, "12345a", now), None);
        assert_eq!(matching_step(&totp, "+12345", now), None);
        let uri = otpauth_uri(&totp);
        assert!(
            uri.starts_with("otpauth://totp/gatehouse:a%40example.com?"),
            "{uri}"
        );
        assert!(uri.contains(&format!("secret={}", base32(&totp))));
        assert!(qr_svg(&uri).contains("<svg"));
    }
}
