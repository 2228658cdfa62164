//! Test helper: makes a key and self-signed certificate with the `openssl` command line,
//! builds a SAML 2.0 assertion from a template and signs it with the `xmlsec1` command
//! line (libxmlsec1's reference tool, Debian package `xmlsec1`).
//!
//! Self-contained (std only) so other crates' tests can pull it in with
//! `#[path = "../../saml/tests/support/sign.rs"] mod sign;`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const SAML_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
pub const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// A temporary directory under `std::env::temp_dir()`, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("tollgate-{tag}-{}-{nanos}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The kind of key the test IdP signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa2048,
    EcP256,
}

/// A test identity provider: a private key and its self-signed certificate on disk.
pub struct Signer {
    dir: TempDir,
    key: PathBuf,
    cert: PathBuf,
    /// The certificate, PEM (what Tollgate is configured to trust).
    pub cert_pem: String,
    pub kind: KeyKind,
}

impl Signer {
    /// RSA 2048 key and a self-signed certificate made with the `openssl` command line.
    pub fn new() -> Self {
        Self::with_kind(KeyKind::Rsa2048)
    }

    pub fn with_kind(kind: KeyKind) -> Self {
        let dir = TempDir::new("saml-idp");
        let key = dir.path().join("key.pem");
        let cert = dir.path().join("cert.pem");
        let mut cmd = Command::new("openssl");
        cmd.args(["req", "-x509", "-nodes", "-newkey"]);
        match kind {
            KeyKind::Rsa2048 => {
                cmd.arg("rsa:2048");
            }
            KeyKind::EcP256 => {
                cmd.args(["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]);
            }
        }
        cmd.args(["-sha256", "-days", "3650", "-subj", "/CN=Tollgate test IdP"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert);
        let out = cmd.output().expect("run openssl (is it installed?)");
        assert!(
            out.status.success(),
            "openssl req failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cert_pem = std::fs::read_to_string(&cert).expect("read cert.pem");
        Self {
            dir,
            key,
            cert,
            cert_pem,
            kind,
        }
    }

    /// The signature algorithm URI that matches this key with SHA-256.
    pub fn sha256_alg(&self) -> &'static str {
        match self.kind {
            KeyKind::Rsa2048 => RSA_SHA256,
            KeyKind::EcP256 => ECDSA_SHA256,
        }
    }

    /// Signs `template` (an XML document holding an empty `ds:Signature` template) with
    /// `xmlsec1 --sign`, registering `ID` on `saml:Assertion` as the ID attribute.
    pub fn sign_template(&self, template: &str) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let input = self.dir.path().join(format!("template-{n}.xml"));
        let output = self.dir.path().join(format!("signed-{n}.xml"));
        std::fs::write(&input, template).expect("write template");
        let mut keyspec = self.key.clone().into_os_string();
        keyspec.push(",");
        keyspec.push(&self.cert);
        let out = Command::new("xmlsec1")
            .arg("--sign")
            .arg("--privkey-pem")
            .arg(&keyspec)
            .args(["--id-attr:ID", &format!("{SAML_NS}:Assertion")])
            .arg("--output")
            .arg(&output)
            .arg(&input)
            .output()
            .expect("run xmlsec1 (is it installed?)");
        assert!(
            out.status.success(),
            "xmlsec1 --sign failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let signed = std::fs::read_to_string(&output).expect("read signed output");
        let _ = std::fs::remove_file(&input);
        let _ = std::fs::remove_file(&output);
        signed
    }

    /// The test oracle: does `xmlsec1 --verify` accept `xml` with this signer's
    /// certificate as the only key? Keys in the document's KeyInfo are not used
    /// (`--enabled-key-data` leaves out x509 and key values), only same-document
    /// references are followed, and `ID` on `saml:Assertion` is the ID attribute.
    pub fn xmlsec1_verifies(&self, xml: &str) -> bool {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let input = self.dir.path().join(format!("verify-{n}.xml"));
        std::fs::write(&input, xml).expect("write document");
        let out = Command::new("xmlsec1")
            .arg("--verify")
            .arg("--pubkey-cert-pem")
            .arg(&self.cert)
            .args(["--enabled-key-data", "key-name"])
            .args(["--enabled-reference-uris", "empty,same-doc"])
            .args(["--id-attr:ID", &format!("{SAML_NS}:Assertion")])
            .arg(&input)
            .output()
            .expect("run xmlsec1 (is it installed?)");
        let _ = std::fs::remove_file(&input);
        out.status.success()
    }

    /// Builds the assertion described by `spec` and signs it.
    pub fn sign(&self, spec: &AssertionSpec) -> String {
        self.sign_template(&spec.template())
    }
}

impl Default for Signer {
    fn default() -> Self {
        Self::new()
    }
}

/// What the test assertion says. `AssertionSpec::valid` gives one that a policy with
/// the same audience and issuer accepts at `now`.
#[derive(Debug, Clone)]
pub struct AssertionSpec {
    pub id: String,
    pub issuer: String,
    pub subject: String,
    pub name_id_format: Option<String>,
    /// Audience values (one AudienceRestriction).
    pub audiences: Vec<String>,
    pub recipient: String,
    pub method: String,
    pub issue_instant: i64,
    pub not_before: Option<i64>,
    pub not_on_or_after: Option<i64>,
    /// SubjectConfirmationData@NotOnOrAfter.
    pub scd_not_on_or_after: Option<i64>,
    pub attributes: Vec<(String, Vec<String>)>,
    /// SignatureMethod and DigestMethod algorithm URIs.
    pub signature_alg: String,
    pub digest_alg: String,
}

impl AssertionSpec {
    pub fn valid(now: i64, issuer: &str, audience: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Self {
            id: format!("_a{}x{n}x{now}", std::process::id()),
            issuer: issuer.to_owned(),
            subject: "alice@example.com".to_owned(),
            name_id_format: Some(
                "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".to_owned(),
            ),
            audiences: vec![audience.to_owned()],
            recipient: audience.to_owned(),
            method: BEARER.to_owned(),
            issue_instant: now - 5,
            not_before: Some(now - 10),
            not_on_or_after: Some(now + 300),
            scd_not_on_or_after: Some(now + 300),
            attributes: vec![
                ("email".to_owned(), vec!["alice@example.com".to_owned()]),
                (
                    "groups".to_owned(),
                    vec!["admins".to_owned(), "staff".to_owned()],
                ),
            ],
            signature_alg: RSA_SHA256.to_owned(),
            digest_alg: SHA256.to_owned(),
        }
    }

    /// The unsigned document with an empty `ds:Signature` template after the Issuer.
    pub fn template(&self) -> String {
        let mut x = String::new();
        let _ = write!(
            x,
            r#"<?xml version="1.0" encoding="UTF-8"?>
<saml:Assertion xmlns:saml="{SAML_NS}" xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="{id}" Version="2.0" IssueInstant="{ii}">
  <saml:Issuer>{issuer}</saml:Issuer>
{sig}
  <saml:Subject>
    <saml:NameID{fmt}>{subject}</saml:NameID>
    <saml:SubjectConfirmation Method="{method}">
      <saml:SubjectConfirmationData Recipient="{recipient}"{scd_noa}/>
    </saml:SubjectConfirmation>
  </saml:Subject>
  <saml:Conditions{nb}{noa}>
    <saml:AudienceRestriction>
"#,
            id = esc(&self.id),
            ii = xs_date_time(self.issue_instant),
            issuer = esc(&self.issuer),
            sig = signature_template(&self.id, &self.signature_alg, &self.digest_alg),
            fmt = self
                .name_id_format
                .as_ref()
                .map(|f| format!(r#" Format="{}""#, esc(f)))
                .unwrap_or_default(),
            subject = esc(&self.subject),
            method = esc(&self.method),
            recipient = esc(&self.recipient),
            scd_noa = time_attr("NotOnOrAfter", self.scd_not_on_or_after),
            nb = time_attr("NotBefore", self.not_before),
            noa = time_attr("NotOnOrAfter", self.not_on_or_after),
        );
        for a in &self.audiences {
            let _ = writeln!(x, "      <saml:Audience>{}</saml:Audience>", esc(a));
        }
        x.push_str("    </saml:AudienceRestriction>\n  </saml:Conditions>\n");
        let _ = write!(
            x,
            r#"  <saml:AuthnStatement AuthnInstant="{}">
    <saml:AuthnContext>
      <saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>
    </saml:AuthnContext>
  </saml:AuthnStatement>
"#,
            xs_date_time(self.issue_instant)
        );
        if !self.attributes.is_empty() {
            x.push_str("  <saml:AttributeStatement>\n");
            for (name, values) in &self.attributes {
                let _ = writeln!(x, r#"    <saml:Attribute Name="{}">"#, esc(name));
                for v in values {
                    let _ = writeln!(
                        x,
                        r#"      <saml:AttributeValue xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">{}</saml:AttributeValue>"#,
                        esc(v)
                    );
                }
                x.push_str("    </saml:Attribute>\n");
            }
            x.push_str("  </saml:AttributeStatement>\n");
        }
        x.push_str("</saml:Assertion>\n");
        x
    }
}

/// An empty enveloped exc-c14n signature template over `#id`.
pub fn signature_template(id: &str, signature_alg: &str, digest_alg: &str) -> String {
    format!(
        r##"  <ds:Signature xmlns:ds="{DSIG_NS}">
    <ds:SignedInfo>
      <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
      <ds:SignatureMethod Algorithm="{signature_alg}"/>
      <ds:Reference URI="#{id}">
        <ds:Transforms>
          <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
          <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
        </ds:Transforms>
        <ds:DigestMethod Algorithm="{digest_alg}"/>
        <ds:DigestValue></ds:DigestValue>
      </ds:Reference>
    </ds:SignedInfo>
    <ds:SignatureValue></ds:SignatureValue>
    <ds:KeyInfo>
      <ds:X509Data></ds:X509Data>
    </ds:KeyInfo>
  </ds:Signature>"##,
        id = esc(id),
    )
}

/// Signs the assertion `spec` describes with a fresh RSA 2048 key: (signed XML, cert PEM).
pub fn signed_assertion(spec: &AssertionSpec) -> (String, String) {
    let signer = Signer::new();
    let xml = signer.sign(spec);
    (xml, signer.cert_pem.clone())
}

fn time_attr(name: &str, t: Option<i64>) -> String {
    t.map(|t| format!(r#" {name}="{}""#, xs_date_time(t)))
        .unwrap_or_default()
}

/// XML text/attribute escaping.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Unix seconds → `xs:dateTime` in UTC (`2026-12-01T10:20:38Z`).
pub fn xs_date_time(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}
