//! `tollgate assertion keygen|jwt`: the client side of RFC 7523, for people
//! trying `private_key_jwt`, `client_secret_jwt` and the JWT bearer grant.
//! Works on local files only: neither command opens the store.
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};
use tollgate_jose::secrets::random_bytes;
use tollgate_jose::{Alg, PublicKey, SigningKey};

use super::client::parse_pair;
use crate::output;

#[derive(Subcommand)]
pub enum AssertionCmd {
    /// Generate a private key (PKCS#8 PEM, mode 0600) and print its public
    /// JWK Set: what a client registers with `client add --jwks-file`.
    Keygen(KeygenArgs),
    /// Print one signed JWT: a client assertion (RFC 7523 §2.2) or a JWT
    /// bearer grant (RFC 7523 §2.1).
    Jwt(Box<JwtArgs>),
}

#[derive(Args)]
pub struct KeygenArgs {
    /// ES256 (default), EdDSA, RS256 or PS256.
    #[arg(long, default_value = "ES256", value_parser = parse_signing_alg)]
    pub alg: Alg,
    /// Where to write the private key (refuses to overwrite a file).
    #[arg(long)]
    pub key_out: PathBuf,
    /// Write the public JWK Set here instead of printing it.
    #[arg(long)]
    pub jwks_out: Option<PathBuf>,
    /// Also write the public key as a PEM `PUBLIC KEY` (e.g. for a trusted
    /// issuer's `keys_file`).
    #[arg(long)]
    pub public_pem_out: Option<PathBuf>,
    /// Key id (default: the RFC 7638 thumbprint, which `assertion jwt` also
    /// uses by default).
    #[arg(long)]
    pub kid: Option<String>,
}

#[derive(Args)]
pub struct JwtArgs {
    /// The private key (PEM: PKCS#8, SEC1 EC or PKCS#1 RSA).
    #[arg(long, required_unless_present = "secret_stdin")]
    pub key: Option<PathBuf>,
    /// Sign with a client secret read from standard input (HMAC, for
    /// client_secret_jwt) instead of a private key.
    #[arg(long, conflicts_with_all = ["key", "x5t_cert"])]
    pub secret_stdin: bool,
    /// Issuer (`iss`).
    #[arg(long, required_unless_present = "client")]
    pub iss: Option<String>,
    /// Subject (`sub`).
    #[arg(long, required_unless_present = "client")]
    pub sub: Option<String>,
    /// Audience (`aud`); may be repeated.
    #[arg(long = "aud", required_unless_present = "token_endpoint")]
    pub aud: Vec<String>,
    /// Lifetime: `exp` = now + this many minutes.
    #[arg(long, default_value_t = 5)]
    pub exp_minutes: u64,
    /// Key id in the header (default: the key's RFC 7638 thumbprint).
    #[arg(long)]
    pub kid: Option<String>,
    /// Signature algorithm (default: from the key type; HS256 with --secret-stdin).
    #[arg(long, value_parser = parse_any_alg)]
    pub alg: Option<Alg>,
    /// A certificate (PEM) of the signing key: its base64url SHA-1
    /// thumbprint goes in the `x5t` header (RFC 7515 §4.1.7).
    #[arg(long)]
    pub x5t_cert: Option<PathBuf>,
    /// Also put the SHA-256 thumbprint in `x5t#S256` (RFC 7515 §4.1.8).
    #[arg(long, requires = "x5t_cert")]
    pub x5t_s256: bool,
    /// An extra claim NAME=VALUE (VALUE is taken as JSON when it parses,
    /// else as a string; it replaces a standard claim of the same name);
    /// may be repeated.
    #[arg(long = "claim", value_parser = parse_pair)]
    pub claims: Vec<(String, String)>,
    /// Client assertion shortcut: iss = sub = this client id.
    #[arg(long, conflicts_with_all = ["iss", "sub"], requires = "token_endpoint")]
    pub client: Option<String>,
    /// Client assertion shortcut: aud = this token endpoint URL.
    #[arg(long, requires = "client", conflicts_with = "aud")]
    pub token_endpoint: Option<String>,
}

pub(crate) fn parse_signing_alg(s: &str) -> Result<Alg, String> {
    match Alg::parse(s) {
        Some(a) if Alg::SIGNING.contains(&a) => Ok(a),
        _ => Err(format!(
            "'{s}' is not one of {}",
            Alg::SIGNING.map(Alg::as_str).join(", ")
        )),
    }
}

fn parse_any_alg(s: &str) -> Result<Alg, String> {
    Alg::parse(s).ok_or_else(|| {
        format!(
            "'{s}' is not one of {}",
            Alg::ALL.map(Alg::as_str).join(", ")
        )
    })
}

pub fn run(cmd: AssertionCmd, as_json: bool) -> anyhow::Result<()> {
    match cmd {
        AssertionCmd::Keygen(a) => keygen(a, as_json),
        AssertionCmd::Jwt(a) => {
            let secret = if a.secret_stdin {
                Some(super::read_stdin_secret("--secret-stdin")?)
            } else {
                None
            };
            let jwt = build_jwt(&a, secret.as_deref(), now())?;
            if as_json {
                output::json(&json!({ "assertion": jwt }))
            } else {
                println!("{jwt}");
                Ok(())
            }
        }
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn keygen(a: KeygenArgs, as_json: bool) -> anyhow::Result<()> {
    let mut key = SigningKey::generate(a.alg).context("generating the key")?;
    if let Some(kid) = a.kid {
        key = key.with_kid(kid);
    }
    // Check every target first, so a refusal leaves no half-done output.
    for p in [
        Some(&a.key_out),
        a.jwks_out.as_ref(),
        a.public_pem_out.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        if p.exists() {
            bail!("{} already exists; not overwriting it", p.display());
        }
    }
    write_new(&a.key_out, key.to_pkcs8_pem().as_bytes(), true)?;
    let jwks = json!({ "keys": [key.public_jwk()] });
    let text = serde_json::to_string_pretty(&jwks)?;
    if let Some(p) = &a.jwks_out {
        write_new(p, format!("{text}\n").as_bytes(), false)?;
    }
    if let Some(p) = &a.public_pem_out {
        write_new(p, public_pem(&key)?.as_bytes(), false)?;
    }
    if as_json {
        return output::json(&json!({
            "kid": key.kid(),
            "alg": key.alg(),
            "key_file": a.key_out,
            "jwks_file": a.jwks_out,
            "public_pem_file": a.public_pem_out,
            "jwks": jwks,
        }));
    }
    eprintln!(
        "wrote the {} private key (kid {}) to {} (mode 0600)",
        key.alg(),
        key.kid(),
        a.key_out.display()
    );
    match &a.jwks_out {
        Some(p) => eprintln!("wrote its public JWK Set to {}", p.display()),
        None => println!("{text}"),
    }
    if let Some(p) = &a.public_pem_out {
        eprintln!("wrote its public key (PEM) to {}", p.display());
    }
    Ok(())
}

/// Creates `path`, refusing an existing file; `private` makes it 0600.
pub fn write_new(path: &Path, bytes: &[u8], private: bool) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        let mode = if private { 0o600 } else { 0o644 };
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, mode);
    }
    let mut f = opts.open(path).with_context(|| {
        if path.exists() {
            format!("{} already exists; not overwriting it", path.display())
        } else {
            format!("cannot create {}", path.display())
        }
    })?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// The public half of `key` as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo).
pub fn public_pem(key: &SigningKey) -> anyhow::Result<String> {
    use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
    use aws_lc_rs::signature::{self, KeyPair};
    let pkcs8 = pem_blocks(&key.to_pkcs8_pem())?
        .into_iter()
        .next()
        .map(|(_, der)| der)
        .context("the key did not encode")?;
    let bad = |_| anyhow::anyhow!("cannot derive the public key");
    let der: PublicKeyX509Der<'static> = match key.algorithm() {
        Alg::ES256 => {
            signature::EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
                .map_err(|_| anyhow::anyhow!("cannot derive the public key"))?
                .public_key()
                .as_der()
                .map_err(bad)?
        }
        Alg::EdDSA => signature::Ed25519KeyPair::from_pkcs8(&pkcs8)
            .map_err(|_| anyhow::anyhow!("cannot derive the public key"))?
            .public_key()
            .as_der()
            .map_err(bad)?,
        Alg::RS256 | Alg::PS256 => signature::RsaKeyPair::from_pkcs8(&pkcs8)
            .map_err(|_| anyhow::anyhow!("cannot derive the public key"))?
            .public_key()
            .as_der()
            .map_err(bad)?,
        other => bail!("no public PEM for {other} keys"),
    };
    Ok(pem_encode("PUBLIC KEY", der.as_ref()))
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Every PEM block of `text`: its label and DER contents. Text between
/// blocks is ignored (RFC 7468 §2).
pub fn pem_blocks(text: &str) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines().map(str::trim) {
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            current = Some((label.to_owned(), String::new()));
        } else if let Some(label) = line
            .strip_prefix("-----END ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            match current.take() {
                Some((l, body)) if l == label => {
                    let der = STANDARD
                        .decode(body.as_bytes())
                        .map_err(|_| anyhow::anyhow!("a {label} PEM block is not base64"))?;
                    out.push((l, der));
                }
                _ => bail!("PEM: -----END {label}----- without its BEGIN"),
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
        }
    }
    if current.is_some() {
        bail!("PEM: a block is not closed");
    }
    Ok(out)
}

/// Public keys from PEM text (`PUBLIC KEY`, `RSA PUBLIC KEY`,
/// `CERTIFICATE`), one per block, as a JWK Set. Each key's kid is its RFC
/// 7638 thumbprint: the kid `assertion jwt` (and `SigningKey`) put in the
/// header by default, so the token names the key it was signed with.
pub fn pem_to_jwks(text: &str) -> anyhow::Result<Value> {
    let mut keys = Vec::new();
    for (label, der) in pem_blocks(text)? {
        if label.contains("PRIVATE KEY") {
            bail!("the file holds a private key: register only the public key");
        }
        let block = pem_encode(&label, &der);
        let k = PublicKey::from_pem(&block).map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
        let thumbprint = k.thumbprint();
        keys.push(k.with_kid(thumbprint).to_jwk());
    }
    if keys.is_empty() {
        bail!("no PEM public key or certificate found");
    }
    Ok(json!({ "keys": keys }))
}

/// A JWK Set from a file: JSON (a JWK Set, or one JWK) or PEM public keys
/// and certificates. Checked the way the server will check it.
pub fn read_jwks_file(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let set = if text.trim_start().starts_with('{') {
        let v: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        if v.get("kty").is_some() {
            json!({ "keys": [v] })
        } else {
            v
        }
    } else {
        pem_to_jwks(&text).with_context(|| format!("{}", path.display()))?
    };
    tollgate_jose::JwkSet::parse(&set).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(set)
}

fn claim_value(v: &str) -> Value {
    serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()))
}

/// The JWT `args` describe, signed with the key file (or `secret`), at time `now`.
pub fn build_jwt(args: &JwtArgs, secret: Option<&str>, now: i64) -> anyhow::Result<String> {
    let (iss, sub) = match &args.client {
        Some(c) => (c.clone(), c.clone()),
        None => (
            args.iss.clone().context("--iss is required")?,
            args.sub.clone().context("--sub is required")?,
        ),
    };
    let aud: Vec<String> = match &args.token_endpoint {
        Some(t) => vec![t.clone()],
        None => args.aud.clone(),
    };
    let aud = match aud.as_slice() {
        [] => bail!("--aud is required"),
        [one] => Value::from(one.as_str()),
        many => Value::from(many.to_vec()),
    };
    let minutes = i64::try_from(args.exp_minutes).unwrap_or(i64::MAX);
    let jti = URL_SAFE_NO_PAD.encode(random_bytes::<16>().context("random jti")?);
    let mut claims = Map::new();
    claims.insert("iss".into(), iss.into());
    claims.insert("sub".into(), sub.into());
    claims.insert("aud".into(), aud);
    claims.insert("jti".into(), jti.into());
    claims.insert("iat".into(), now.into());
    claims.insert(
        "exp".into(),
        now.saturating_add(minutes.saturating_mul(60)).into(),
    );
    for (name, value) in &args.claims {
        claims.insert(name.clone(), claim_value(value));
    }
    let claims = Value::Object(claims);
    let mut header = Map::new();
    header.insert("typ".into(), "JWT".into());

    if let Some(secret) = secret {
        let alg = args.alg.unwrap_or(Alg::HS256);
        if !alg.is_hmac() {
            bail!("--secret-stdin signs with HS256, HS384 or HS512, not {alg}");
        }
        if let Some(kid) = &args.kid {
            header.insert("kid".into(), kid.as_str().into());
        }
        return tollgate_jose::sign_hmac(alg, secret.as_bytes(), &header, &claims)
            .map_err(|e| anyhow::anyhow!("signing: {e}"));
    }

    let path = args.key.as_ref().context("--key is required")?;
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("reading the key {}", path.display()))?;
    let mut key = SigningKey::from_pem(&pem, args.alg)
        .map_err(|e| anyhow::anyhow!("the key {}: {e}", path.display()))?;
    if let Some(kid) = &args.kid {
        key = key.with_kid(kid.clone());
    }
    if let Some(cert_path) = &args.x5t_cert {
        let text = std::fs::read_to_string(cert_path)
            .with_context(|| format!("reading {}", cert_path.display()))?;
        let der = pem_blocks(&text)?
            .into_iter()
            .find(|(label, _)| label == "CERTIFICATE")
            .map(|(_, der)| der)
            .with_context(|| format!("{} holds no CERTIFICATE", cert_path.display()))?;
        let cert_key = PublicKey::from_pem(&pem_encode("CERTIFICATE", &der))
            .map_err(|e| anyhow::anyhow!("{}: {e}", cert_path.display()))?;
        if cert_key.thumbprint() != key.thumbprint() {
            bail!(
                "{} certifies another key than {}",
                cert_path.display(),
                path.display()
            );
        }
        header.insert("x5t".into(), tollgate_jose::x5t(&der).into());
        if args.x5t_s256 {
            header.insert("x5t#S256".into(), tollgate_jose::x5t_s256(&der).into());
        }
    }
    key.sign_jwt_with(&header, &claims)
        .map_err(|e| anyhow::anyhow!("signing: {e}"))
}

#[cfg(test)]
#[path = "assertion_tests.rs"]
mod tests;
