//! Registered claim checks (RFC 7519 §4.1, RFC 7523 §3, RFC 8725 §3.8-3.9).
use serde_json::Value;

use super::{Claims, JwtError};

/// What the claims must satisfy. Times are seconds since the epoch; `skew`
/// is the clock drift tolerated in each time comparison.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClaimRules<'a> {
    pub now: i64,
    pub skew: i64,
    /// `iss` must equal this.
    pub issuer: Option<&'a str>,
    /// `sub` must equal this.
    pub subject: Option<&'a str>,
    /// If non-empty: `aud` (a string or an array of strings) must contain
    /// at least one of these (RFC 7519 §4.1.3).
    pub audiences: &'a [&'a str],
    /// Claims that must be present (and not null), e.g. `["exp", "jti"]`.
    pub require: &'a [&'static str],
    /// `exp - now` must be at most this (plus skew): refuses assertions that
    /// live for years. Setting it makes `exp` required.
    pub max_lifetime: Option<i64>,
}

/// A NumericDate (RFC 7519 §2): a JSON number, integer or not (a fraction
/// is truncated). Strings are refused.
fn numeric_date(claims: &Claims, name: &'static str) -> Result<Option<i64>, JwtError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else if let Some(f) = n.as_f64().filter(|f| f.is_finite()) {
                // `as` saturates at the i64 range, which is what a date
                // beyond it means here.
                Ok(Some(f.trunc() as i64))
            } else {
                Err(JwtError::InvalidClaim(name.into()))
            }
        }
        Some(_) => Err(JwtError::InvalidClaim(name.into())),
    }
}

fn string_claim<'c>(claims: &'c Claims, name: &'static str) -> Result<Option<&'c str>, JwtError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JwtError::InvalidClaim(name.into())),
    }
}

/// Checks the registered claims. Time rules, with the clock skew of the
/// seeds: `iat` present → `iat ≤ now + skew`; `exp` present → `now ≤ exp +
/// skew`; `nbf` present → `now ≥ nbf − skew`. `iss`, `sub` and `jti` must be
/// strings when present. All arithmetic saturates, so hostile dates cannot
/// overflow.
pub fn check_claims(claims: &Claims, rules: &ClaimRules<'_>) -> Result<(), JwtError> {
    for name in rules.require {
        if matches!(claims.get(*name), None | Some(Value::Null)) {
            return Err(JwtError::MissingClaim((*name).into()));
        }
    }
    let iss = string_claim(claims, "iss")?;
    let sub = string_claim(claims, "sub")?;
    string_claim(claims, "jti")?;
    let now = rules.now;
    let skew = rules.skew.max(0);
    let exp = numeric_date(claims, "exp")?;
    let nbf = numeric_date(claims, "nbf")?;
    let iat = numeric_date(claims, "iat")?;
    if let Some(exp) = exp
        && now > exp.saturating_add(skew)
    {
        return Err(JwtError::Expired);
    }
    if let Some(nbf) = nbf
        && now < nbf.saturating_sub(skew)
    {
        return Err(JwtError::NotYetValid);
    }
    if let Some(iat) = iat
        && iat > now.saturating_add(skew)
    {
        return Err(JwtError::IssuedInFuture);
    }
    if let Some(max) = rules.max_lifetime {
        let exp = exp.ok_or_else(|| JwtError::MissingClaim("exp".into()))?;
        if exp.saturating_sub(now) > max.saturating_add(skew) {
            return Err(JwtError::LifetimeTooLong(max));
        }
    }
    if let Some(want) = rules.issuer {
        match iss {
            None => return Err(JwtError::MissingClaim("iss".into())),
            Some(i) if i != want => return Err(JwtError::WrongIssuer(want.into())),
            Some(_) => {}
        }
    }
    if let Some(want) = rules.subject {
        match sub {
            None => return Err(JwtError::MissingClaim("sub".into())),
            Some(s) if s != want => return Err(JwtError::WrongSubject(want.into())),
            Some(_) => {}
        }
    }
    if !rules.audiences.is_empty() {
        let aud: Vec<&str> = match claims.get("aud") {
            None | Some(Value::Null) => return Err(JwtError::MissingClaim("aud".into())),
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().ok_or(JwtError::InvalidClaim("aud".into())))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(JwtError::InvalidClaim("aud".into())),
        };
        if !rules.audiences.iter().any(|want| aud.contains(want)) {
            return Err(JwtError::WrongAudience(rules.audiences.join(" or ")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn claims(v: Value) -> Claims {
        match v {
            Value::Object(m) => m,
            _ => Claims::new(),
        }
    }

    fn rules() -> ClaimRules<'static> {
        ClaimRules {
            now: NOW,
            skew: 60,
            ..ClaimRules::default()
        }
    }

    #[test]
    fn exp_with_skew() {
        let r = rules();
        assert_eq!(
            check_claims(&claims(json!({"exp": NOW - 61})), &r),
            Err(JwtError::Expired)
        );
        assert!(check_claims(&claims(json!({"exp": NOW - 60})), &r).is_ok());
        assert!(check_claims(&claims(json!({"exp": NOW + 300})), &r).is_ok());
        assert_eq!(
            check_claims(&claims(json!({"exp": i64::MIN})), &r),
            Err(JwtError::Expired)
        );
        assert!(check_claims(&claims(json!({"exp": u64::MAX})), &r).is_ok());
    }

    #[test]
    fn nbf_beyond_and_within_skew() {
        let r = rules();
        assert_eq!(
            check_claims(&claims(json!({"nbf": NOW + 61})), &r),
            Err(JwtError::NotYetValid)
        );
        assert!(check_claims(&claims(json!({"nbf": NOW + 60})), &r).is_ok());
        assert!(check_claims(&claims(json!({"nbf": NOW - 1000})), &r).is_ok());
    }

    #[test]
    fn iat_in_the_future() {
        let r = rules();
        assert_eq!(
            check_claims(&claims(json!({"iat": NOW + 61})), &r),
            Err(JwtError::IssuedInFuture)
        );
        assert!(check_claims(&claims(json!({"iat": NOW + 60})), &r).is_ok());
        assert!(check_claims(&claims(json!({"iat": i64::MAX})), &r).is_err());
    }

    #[test]
    fn dates_must_be_numbers_and_floats_are_truncated() {
        let r = rules();
        assert_eq!(
            check_claims(&claims(json!({"exp": (NOW + 100).to_string()})), &r),
            Err(JwtError::InvalidClaim("exp".into()))
        );
        assert!(check_claims(&claims(json!({"nbf": "0"})), &r).is_err());
        assert!(check_claims(&claims(json!({"iat": true})), &r).is_err());
        // A fraction is truncated, never rounded up.
        assert!(check_claims(&claims(json!({"exp": (NOW - 60) as f64 + 0.9})), &r).is_ok());
        assert_eq!(
            check_claims(&claims(json!({"exp": (NOW - 61) as f64 + 0.9})), &r),
            Err(JwtError::Expired)
        );
        assert!(check_claims(&claims(json!({"exp": 1e300})), &r).is_ok());
    }

    #[test]
    fn audience_string_or_array() {
        let auds = ["https://as.example/token"];
        let r = ClaimRules {
            audiences: &auds,
            ..rules()
        };
        assert!(check_claims(&claims(json!({"aud": "https://as.example/token"})), &r).is_ok());
        assert!(
            check_claims(
                &claims(json!({"aud": ["other", "https://as.example/token"]})),
                &r
            )
            .is_ok()
        );
        let e = check_claims(&claims(json!({"aud": "https://evil.example"})), &r).unwrap_err();
        assert_eq!(
            e,
            JwtError::WrongAudience("https://as.example/token".into())
        );
        assert_eq!(
            e.to_string(),
            "the JWT's aud does not contain https://as.example/token"
        );
        assert!(check_claims(&claims(json!({"aud": ["a", "b"]})), &r).is_err());
        assert!(check_claims(&claims(json!({"aud": [1]})), &r).is_err());
        assert!(check_claims(&claims(json!({"aud": 5})), &r).is_err());
        assert_eq!(
            check_claims(&claims(json!({})), &r),
            Err(JwtError::MissingClaim("aud".into()))
        );
    }

    #[test]
    fn required_claims_and_string_types() {
        let r = ClaimRules {
            require: &["exp", "jti"],
            ..rules()
        };
        assert!(check_claims(&claims(json!({"exp": NOW, "jti": "j"})), &r).is_ok());
        assert_eq!(
            check_claims(&claims(json!({"exp": NOW})), &r),
            Err(JwtError::MissingClaim("jti".into()))
        );
        assert!(check_claims(&claims(json!({"exp": NOW, "jti": null})), &r).is_err());
        assert_eq!(
            check_claims(&claims(json!({"exp": NOW, "jti": 7})), &r),
            Err(JwtError::InvalidClaim("jti".into()))
        );
        assert!(check_claims(&claims(json!({"iss": 1})), &rules()).is_err());
        assert!(check_claims(&claims(json!({"sub": ["x"]})), &rules()).is_err());
    }

    #[test]
    fn issuer_and_subject_must_match() {
        let r = ClaimRules {
            issuer: Some("client-1"),
            subject: Some("client-1"),
            ..rules()
        };
        assert!(check_claims(&claims(json!({"iss": "client-1", "sub": "client-1"})), &r).is_ok());
        assert_eq!(
            check_claims(&claims(json!({"iss": "client-2", "sub": "client-1"})), &r),
            Err(JwtError::WrongIssuer("client-1".into()))
        );
        assert_eq!(
            check_claims(&claims(json!({"iss": "client-1", "sub": "x"})), &r),
            Err(JwtError::WrongSubject("client-1".into()))
        );
        assert_eq!(
            check_claims(&claims(json!({"sub": "client-1"})), &r),
            Err(JwtError::MissingClaim("iss".into()))
        );
    }

    #[test]
    fn max_lifetime_refuses_long_lived_assertions() {
        let r = ClaimRules {
            max_lifetime: Some(3600),
            ..rules()
        };
        assert!(check_claims(&claims(json!({"exp": NOW + 3600 + 60})), &r).is_ok());
        assert_eq!(
            check_claims(&claims(json!({"exp": NOW + 86400 * 365})), &r),
            Err(JwtError::LifetimeTooLong(3600))
        );
        assert_eq!(
            check_claims(&claims(json!({"iat": NOW})), &r),
            Err(JwtError::MissingClaim("exp".into()))
        );
    }
}
