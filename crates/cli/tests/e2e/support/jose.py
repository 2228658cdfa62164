"""An independent JOSE implementation for the end-to-end tests (PyJWT and
pyca/cryptography from Debian, run with /usr/bin/python3): it signs the
client and bearer assertions Tollgate must accept, crafts the hostile ones
it must refuse, and verifies the JWT access tokens Tollgate issues.

Usage (every argument JSON where it says so):
  jose.py jwk KEY.pem [CERT.pem] [KID]      public JWK of a private key (x5c/x5t from CERT)
  jose.py sign KEY.pem ALG HEADER CLAIMS    a JWS signed by PyJWT
  jose.py hmac SECRET_FILE ALG HEADER CLAIMS  an HMAC JWS built by hand (any bytes as key)
  jose.py none HEADER CLAIMS                an unsecured JWS (alg none)
  jose.py verify TOKEN JWKS AUD             verifies with PyJWT; prints header and claims
"""
import base64
import hashlib
import hmac
import json
import sys

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def public_jwk(key):
    pub = key.public_key()
    if isinstance(key, rsa.RSAPrivateKey):
        return json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(pub))
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return json.loads(jwt.algorithms.ECAlgorithm.to_jwk(pub))
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
    raise SystemExit("unsupported key type")


def compact(header, claims, sign):
    h = b64(json.dumps(header, separators=(",", ":")).encode())
    p = b64(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{h}.{p}".encode()
    return f"{h}.{p}.{b64(sign(signing_input))}"


def main(argv):
    cmd = argv[1]
    if cmd == "jwk":
        key = load_key(argv[2])
        out = public_jwk(key)
        if len(argv) > 3 and argv[3]:
            with open(argv[3], "rb") as f:
                cert = x509.load_pem_x509_certificate(f.read())
            der = cert.public_bytes(serialization.Encoding.DER)
            out["x5c"] = [base64.b64encode(der).decode()]
        if len(argv) > 4:
            out["kid"] = argv[4]
        print(json.dumps(out))
    elif cmd == "sign":
        key = load_key(argv[2])
        header = json.loads(argv[4])
        header.pop("alg", None)
        print(jwt.encode(json.loads(argv[5]), key, algorithm=argv[3], headers=header))
    elif cmd == "hmac":
        with open(argv[2], "rb") as f:
            secret = f.read()
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[argv[3]]
        header = dict(json.loads(argv[4]), alg=argv[3])
        print(compact(header, json.loads(argv[5]), lambda m: hmac.new(secret, m, digest).digest()))
    elif cmd == "none":
        header = dict(json.loads(argv[2]), alg="none")
        print(compact(header, json.loads(argv[3]), lambda m: b""))
    elif cmd == "verify":
        token, jwks, aud = argv[2], json.loads(argv[3]), argv[4]
        header = jwt.get_unverified_header(token)
        keys = {k["kid"]: k for k in jwks["keys"]}
        jwk = keys[header["kid"]]
        key = jwt.PyJWK(jwk).key
        claims = jwt.decode(token, key, algorithms=[header["alg"]], audience=aud)
        print(json.dumps({"header": header, "claims": claims}))
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
