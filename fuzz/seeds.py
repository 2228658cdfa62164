#!/usr/bin/python3
"""Writes the seed inputs of every fuzz target into fuzz/seeds/<target>/.

Realistic inputs, made the way the crates' tests make them: SAML assertions
signed with the `xmlsec1` command line (the template of
crates/saml/tests/support/sign.rs) with the fixture IdP key, JWTs signed with
PyJWT (an independent JOSE implementation, as the assertion tests use) with
the fixture keys, and form bodies, Basic headers, redirect URIs, gateway paths
and token responses as clients, browsers and providers send them.

Files are named by their SHA-1, as libFuzzer names what it finds, and added
to fuzz/corpus/<target>/ (nothing is removed): the committed corpora are these
seeds plus what the campaigns found, minimised with `cargo fuzz cmin`. Needs python3 with PyJWT and cryptography, xmlsec1 and openssl
(Debian: python3-jwt python3-cryptography xmlsec1 openssl).
"""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

import jwt  # PyJWT

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures")
OUT = os.path.join(HERE, "corpus")

# The targets' fixed clock (2027-01-15T08:00:00Z) and policy.
NOW = 1_800_000_000
ISSUER = "https://idp.example.com/saml"
AUDIENCE = "https://tollgate.example.com/oauth2/token"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def xs(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def signature_template(id_, sig_alg=RSA_SHA256, dig_alg=SHA256):
    return f"""  <ds:Signature xmlns:ds="{DSIG_NS}">
    <ds:SignedInfo>
      <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
      <ds:SignatureMethod Algorithm="{sig_alg}"/>
      <ds:Reference URI="#{esc(id_)}">
        <ds:Transforms>
          <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
          <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
        </ds:Transforms>
        <ds:DigestMethod Algorithm="{dig_alg}"/>
        <ds:DigestValue></ds:DigestValue>
      </ds:Reference>
    </ds:SignedInfo>
    <ds:SignatureValue></ds:SignatureValue>
    <ds:KeyInfo>
      <ds:X509Data></ds:X509Data>
    </ds:KeyInfo>
  </ds:Signature>"""


def assertion(n, signature=True, issuer=ISSUER, subject="alice@example.com", audiences=(AUDIENCE,),
              recipient=AUDIENCE, method=BEARER, attrs=(("email", ["alice@example.com"]),
                                                         ("groups", ["admins", "staff"])),
              noa=NOW + 300, scd_noa=NOW + 300, nb=NOW - 10, ii=NOW - 5, sig_alg=RSA_SHA256,
              dig_alg=SHA256, decl=True, fmt="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"):
    id_ = f"_fuzz{n:04d}"
    x = '<?xml version="1.0" encoding="UTF-8"?>\n' if decl else ""
    x += (f'<saml:Assertion xmlns:saml="{SAML_NS}" xmlns:xs="http://www.w3.org/2001/XMLSchema" '
          f'ID="{id_}" Version="2.0" IssueInstant="{xs(ii)}">\n')
    x += f"  <saml:Issuer>{esc(issuer)}</saml:Issuer>\n"
    if signature:
        x += signature_template(id_, sig_alg, dig_alg) + "\n"
    f = f' Format="{esc(fmt)}"' if fmt else ""
    scd = f' NotOnOrAfter="{xs(scd_noa)}"' if scd_noa else ""
    x += f"""  <saml:Subject>
    <saml:NameID{f}>{esc(subject)}</saml:NameID>
    <saml:SubjectConfirmation Method="{esc(method)}">
      <saml:SubjectConfirmationData Recipient="{esc(recipient)}"{scd}/>
    </saml:SubjectConfirmation>
  </saml:Subject>
"""
    c = (f' NotBefore="{xs(nb)}"' if nb else "") + (f' NotOnOrAfter="{xs(noa)}"' if noa else "")
    x += f"  <saml:Conditions{c}>\n    <saml:AudienceRestriction>\n"
    for a in audiences:
        x += f"      <saml:Audience>{esc(a)}</saml:Audience>\n"
    x += "    </saml:AudienceRestriction>\n  </saml:Conditions>\n"
    x += f"""  <saml:AuthnStatement AuthnInstant="{xs(ii)}">
    <saml:AuthnContext>
      <saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>
    </saml:AuthnContext>
  </saml:AuthnStatement>
"""
    if attrs:
        x += "  <saml:AttributeStatement>\n"
        for name, values in attrs:
            x += f'    <saml:Attribute Name="{esc(name)}">\n'
            for v in values:
                x += ('      <saml:AttributeValue xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                      f'xsi:type="xs:string">{esc(v)}</saml:AttributeValue>\n')
            x += "    </saml:Attribute>\n"
        x += "  </saml:AttributeStatement>\n"
    x += "</saml:Assertion>\n"
    return x


def xmlsec_sign(template, tmp, key=None, cert=None):
    key = key or os.path.join(FIX, "saml-idp-key.pem")
    cert = cert or os.path.join(FIX, "saml-idp-cert.pem")
    src = os.path.join(tmp, "t.xml")
    dst = os.path.join(tmp, "s.xml")
    with open(src, "w") as f:
        f.write(template)
    subprocess.run(["xmlsec1", "--sign", "--privkey-pem", f"{key},{cert}",
                    f"--id-attr:ID", f"{SAML_NS}:Assertion", "--output", dst, src],
                   check=True, capture_output=True)
    with open(dst) as f:
        return f.read()


def strip_signature(doc):
    """The signed content as the reader sees it: the root without its signature."""
    start = doc.find("<ds:Signature")
    end = doc.find("</ds:Signature>")
    body = doc[:start] + doc[end + len("</ds:Signature>"):] if start >= 0 else doc
    if body.startswith("<?xml"):
        body = body[body.find("?>") + 2:].lstrip("\n")
    return body


def saml_seeds():
    tmp = tempfile.mkdtemp(prefix="tollgate-fuzz-seeds-")
    try:
        variants = [
            {},
            {"attrs": ()},
            {"fmt": None, "subject": "bob"},
            {"audiences": ("https://other.example.com", AUDIENCE)},
            {"nb": None, "noa": None},
            {"decl": False},
            {"attrs": (("role", ["a & b", "<x>"]), ("empty", []))},
            {"subject": "  padded  "},
            # Refused after the signature check, for the error paths.
            {"issuer": "https://evil.example.com"},
            {"audiences": ("https://other.example.com",)},
            {"recipient": "https://other.example.com"},
            {"method": "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"},
            {"noa": NOW - 3600, "scd_noa": NOW - 3600},
            {"nb": NOW + 3600},
            {"ii": NOW + 3600},
            {"scd_noa": None},
            {"sig_alg": RSA_SHA1, "dig_alg": SHA1},
        ]
        for n, v in enumerate(variants):
            signed = xmlsec_sign(assertion(n, **v), tmp)
            write("saml", signed)
            write("saml_signed", strip_signature(signed))
            if n == 0:
                # Classic attacks on a validly signed document.
                write("saml", signed.replace("alice@example.com</saml:NameID>",
                                             "alice@example.com<!---->.evil</saml:NameID>"))
                write("saml", signed.replace("alice@example.com</saml:NameID>",
                                             "mallory@example.com</saml:NameID>"))
                write("saml", '<!DOCTYPE x [<!ENTITY e "x">]>\n' + signed.split("?>", 1)[1])
                write("saml", signed.replace("<saml:Issuer>", "<?pi x?><saml:Issuer>"))
                write("saml", signed.replace("alice@example.com</saml:NameID>",
                                             "<![CDATA[alice]]></saml:NameID>"))
                write("saml", signed.replace('ID="_fuzz0000"', 'ID="_fuzz0000" ID2="_fuzz0000"'))
                write("saml", signed.replace("\n", "\r\n"))
                wrapped = signed.replace("<saml:Subject>",
                                         '<saml:Advice><saml:Assertion ID="_evil" Version="2.0" '
                                         f'IssueInstant="{xs(NOW)}"><saml:Issuer>x</saml:Issuer>'
                                         "</saml:Assertion></saml:Advice><saml:Subject>", 1)
                write("saml", wrapped)
        write("saml", assertion(99, signature=False))
        write("saml", assertion(98))  # an empty signature template
        # Signed by another key: refused by the verifier.
        key = os.path.join(tmp, "k.pem")
        cert = os.path.join(tmp, "c.pem")
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-sha256", "-days", "30", "-subj",
                        "/CN=other", "-keyout", key, "-out", cert], check=True, capture_output=True)
        write("saml", xmlsec_sign(assertion(97, sig_alg="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"),
                                  tmp, key, cert))
    finally:
        shutil.rmtree(tmp)


def jwt_seeds():
    def pem(name):
        with open(os.path.join(FIX, name), "rb") as f:
            return f.read()

    rs, es, ed = pem("jwt-rs.pem"), pem("jwt-es.pem"), pem("jwt-ed.pem")
    secret = b"tollgate-fuzz-hmac-secret-0123456789abcdef"
    claims = {"iss": "https://issuer.example.com", "sub": "billing",
              "aud": "https://tollgate.example.com/oauth2/token", "exp": NOW + 300,
              "iat": NOW, "jti": "7f1c0e3a", "scope": "orders.read"}
    tokens = [
        jwt.encode(claims, rs, "RS256", headers={"kid": "rs"}),
        jwt.encode(claims, rs, "PS256", headers={"kid": "rs"}),
        jwt.encode(claims, es, "ES256", headers={"kid": "es", "typ": "JWT"}),
        jwt.encode(claims, ed, "EdDSA", headers={"kid": "ed"}),
        jwt.encode(claims, es, "ES256"),
        jwt.encode(claims, secret, "HS256"),
        jwt.encode(claims, secret, "HS512", headers={"typ": "at+jwt"}),
        jwt.encode({**claims, "aud": ["a", "https://tollgate.example.com/oauth2/token"],
                    "exp": NOW - 3600, "nbf": NOW + 10.5}, es, "ES256", headers={"kid": "es"}),
        jwt.encode({"exp": "soon", "iat": None}, ed, "EdDSA", headers={"kid": "ed"}),
        jwt.encode(claims, es, "ES256", headers={"kid": "nosuch"}),
        jwt.encode(claims, es, "ES256", headers={"kid": "es", "x5t": "abc"}),
        jwt.encode(claims, es, "ES256", headers={"kid": "es", "crit": ["exp"]}),
        jwt.encode(claims, rs, "RS256", headers={"kid": "es"}),
    ]
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    body = b64(json.dumps(claims).encode())
    tokens += [
        b64(b'{"alg":"none"}') + "." + body + ".",
        b64(b'{"alg":"HS256","b64":false}') + "." + body + ".c2ln",
        b64(b'{"alg":"RS256","jwk":{"kty":"oct","k":"AA"}}') + "." + body + ".c2ln",
        b64(b'[1]') + "." + body + ".",
        "a.b.c.d",
        tokens[0].rsplit(".", 1)[0] + ".====",
    ]
    for t in tokens:
        write("jwt", b"\x00" + t.encode())
    # The round-trip mode draws claims from raw bytes.
    for i in range(8):
        write("jwt", bytes([1]) + hashlib.sha256(bytes([i])).digest() * (i + 1))


def form_seeds():
    bodies = [
        "grant_type=client_credentials&scope=orders.read",
        "grant_type=client_credentials&scope=orders.read+orders.write&client_id=billing&client_secret=s3cr%2Ft",
        "grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA&redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb"
        "&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        "grant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA",
        "grant_type=password&username=alice&password=p%C3%A4ss+word",
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=eyJhbGciOiJFUzI1NiJ9.e30.c2ln",
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Asaml2-bearer&assertion=PHNhbWw-",
        "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c",
        "token=2YotnFZFEjr1zCsicMWpAA&token_type_hint=access_token",
        "response_type=code&client_id=s6BhdRkqt3&state=xyz&redirect_uri=http%3A%2F%2F127.0.0.1%3A8400%2Fcb"
        "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        "scope=&scope=read&x=1",
        "a=%ff",
        "a=%C3%A9&b=%E2%82%AC&c=%F0%9F%98%80",
        "grant_type=a&grant_type=b",
        "=x&&=&a==b",
        "a=1;b=2",
    ]
    for b in bodies:
        write("form", b)


def basic_seeds():
    def basic(i, s):
        q = lambda v: urllib.parse.quote_plus(v)
        return "Basic " + base64.b64encode(f"{q(i)}:{q(s)}".encode()).decode()

    for v in [basic("billing", "s3cret"), basic("a:b", "c d"), basic("client.id_~-", "p%C3%A4ss"),
              basic("", "x"), "Basic", "Basic !!!", "basic YTpi", "Bearer abc", "Basic YWJj",
              "Basic " + base64.b64encode(b"\xff:\xfe").decode(),
              "Basic " + base64.b64encode(b"a%ff:b").decode(), "Basic  YTpi ", "Basic YTpi===="]:
        write("basic", v)
    for raw in [b"billing\x00s3cret", b"a:b\x00c d", b"caf\xc3\xa9\x00x", b"id\x00%41+&="]:
        write("basic", raw)


def redirect_seeds():
    pairs = [
        ("https://client.example.com/cb", "https://client.example.com/cb"),
        ("https://client.example.com/cb?x=1", "https://client.example.com/cb?x=2"),
        ("http://127.0.0.1/cb", "http://127.0.0.1:51004/cb"),
        ("http://127.0.0.1:8400/cb", "http://127.0.0.1:9/cb?x"),
        ("http://[::1]:8400/cb", "http://[::1]:51004/cb"),
        ("http://localhost:8400/cb", "http://localhost:51004/cb"),
        ("com.example.app:/oauth2redirect", "com.example.app:/oauth2redirect"),
        ("https://client.example.com/cb", "https://client.example.com/cb#frag"),
        ("http://127.0.0.1/cb", "http://127.0.0.1:80/a/../cb"),
        ("http://127.0.0.1/cb", "HTTP://127.0.0.1:81/cb"),
        ("javascript:alert(1)", "javascript:alert(1)"),
        ("https://user:pw@client.example.com/cb", ""),
        ("https://client.example.com/*", ""),
        ("http://evil.example.com/cb", ""),
    ]
    for r, p in pairs:
        write("redirect", f"{r}\n{p}")


def path_seeds():
    for p in ["/gateway/orders/v1/items?x=1", "/gateway/public/../admin/x", "/gateway/orders/./x/.",
              "/gateway/orders/%2e%2E/admin", "/../../etc/passwd", "//gateway///orders//x",
              "/gateway/orders;v=1/x", "/gateway/public/..;/admin", "/gateway/%6Frders/%7e%41",
              "/gateway/a%20b/%c3%a9", "/gateway/a%3bb", "/gateway/orders%2f..%2fadmin",
              "/gateway/a\\b", "/gateway/a%00", "/gateway/%", "/gateway/%zz", "gateway",
              "/gateway/caf\u00e9/\u2603", "/decide/orders/x"]:
        write("path", p)


def token_response_seeds():
    ok = {"access_token": "2YotnFZFEjr1zCsicMWpAA", "token_type": "Bearer", "expires_in": 3600,
          "refresh_token": "tGzv3JOkF0XG5Qx2TlKWIA", "scope": "a b"}
    bodies = [
        (0, ok), (0, {**ok, "expires_in": "3599"}), (0, {**ok, "expires_in": -1}),
        (0, {**ok, "expires_in": 1.5}), (0, {"access_token": "", "token_type": "Bearer"}),
        (0, {"token_type": "Bearer"}), (1, {"access_token": "x", "token_type": "N_A", "refresh_token": ""}),
        (4, {"error": "invalid_grant", "error_description": "refresh token expired"}),
        (5, {"error": "invalid_client"}), (8, {"error": "slow_down", "error_description": "x" * 400 + "\u0007"}),
        (9, {}), (11, {"error": "temporarily_unavailable"}),
    ]
    for st, b in bodies:
        write("token_response", bytes([st, 0]) + json.dumps(b).encode())
    for st, raw in [(0, b"not json"), (11, b"<html>down</html>"), (2, b""), (0, b"[]"),
                    (245, b'{"error":"x"}')]:
        write("token_response", bytes([st, 0]) + raw)


if __name__ == "__main__":
    saml_seeds()
    jwt_seeds()
    form_seeds()
    basic_seeds()
    redirect_seeds()
    path_seeds()
    token_response_seeds()
    for t in sorted(os.listdir(OUT)):
        print(t, len(os.listdir(os.path.join(OUT, t))), file=sys.stderr)
