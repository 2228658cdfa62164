#!/usr/bin/env python3
"""Prepares single-use credentials for the benchmark scenarios that consume
one per request (authorization codes, rotating refresh tokens), over HTTP
against a running Tollgate. Standard library only.

usage: single_use.py login BASE_URL USERNAME             (password: $BENCH_USER_PASSWORD)
           signs in through the login form; prints the session cookie value
       single_use.py codes BASE_URL CLIENT_ID REDIRECT_URI CHALLENGE COUNT OUT
           (session cookie value: $BENCH_SESSION) COUNT authorization codes,
           one GET /oauth2/authorize (S256 challenge CHALLENGE) each
       single_use.py refresh BASE_URL SCOPE COUNT OUT
           (client credentials: $BENCH_BASIC, "id:secret" in base64) COUNT
           refresh tokens, one client_credentials request each (the client
           must have client_credentials_refresh)
       single_use.py s256 VERIFIER
           prints the S256 code challenge of VERIFIER
       single_use.py assertions KEY_PEM KID CLIENT_ID AUDIENCE COUNT OUT
           COUNT private_key_jwt client assertions (RFC 7523 §2.2: iss = sub =
           CLIENT_ID, aud = AUDIENCE, a unique 128-bit jti, exp in 10 minutes),
           signed offline with the private key KEY_PEM (made by `tollgate
           assertion keygen`) under the header kid KID; needs PyJWT
           (Debian python3-jwt) with cryptography, so run it with
           /usr/bin/python3

Writes one value per line to OUT (URL-safe as they are: Tollgate's codes and
tokens are alphanumeric). Several threads, each with its own keep-alive
connection. Exits non-zero, with the server's answer, on the first
unexpected response: nothing is written that would make the load generator
send a bad value.
"""
import base64
import hashlib
import http.client
import json
import os
import re
import sys
import threading
import time
import urllib.parse

WORKERS = int(os.environ.get("BENCH_PREP_WORKERS", "8"))


def conn_for(base):
    u = urllib.parse.urlsplit(base)
    if u.scheme != "http":
        sys.exit(f"single_use.py: only http:// base URLs, not {base}")
    return lambda: http.client.HTTPConnection(u.hostname, u.port or 80, timeout=30)


def s256(verifier):
    d = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(d).rstrip(b"=").decode("ascii")


def set_cookies(resp):
    """name -> value of every Set-Cookie in a response."""
    out = {}
    for k, v in resp.getheaders():
        if k.lower() == "set-cookie":
            name, _, rest = v.partition("=")
            out[name.strip()] = rest.split(";", 1)[0].strip()
    return out


def login(base, username, password):
    c = conn_for(base)()
    c.request("GET", "/oauth2/login?continue=%2Foauth2%2Fconsents")
    r = c.getresponse()
    html = r.read().decode("utf-8", "replace")
    if r.status != 200:
        sys.exit(f"single_use.py: GET /oauth2/login answered {r.status}: {html[:500]}")
    csrf_cookie = set_cookies(r).get("tollgate_session_csrf")
    m = re.search(r'name="csrf_token"\s+value="([^"]+)"', html)
    if not csrf_cookie or not m:
        sys.exit("single_use.py: the login page set no tollgate_session_csrf cookie or has no csrf_token")
    body = urllib.parse.urlencode({
        "username": username,
        "password": password,
        "csrf_token": m.group(1),
        "continue": "/oauth2/consents",
    })
    c.request("POST", "/oauth2/login", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"tollgate_session_csrf={csrf_cookie}",
    })
    r = c.getresponse()
    text = r.read().decode("utf-8", "replace")
    session = set_cookies(r).get("tollgate_session")
    if r.status != 303 or not session:
        sys.exit(f"single_use.py: POST /oauth2/login answered {r.status} without a session: {text[:500]}")
    c.close()
    return session


def write_values(out_path, values):
    """One value per line, written to a temporary file and renamed into place."""
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(values))
        f.write("\n")
    os.replace(tmp, out_path)


def run_parallel(count, out_path, make_one, what):
    """Calls make_one(conn) COUNT times over WORKERS threads and writes the
    values to OUT_PATH."""
    start = time.time()
    values = []
    lock = threading.Lock()
    failure = []
    workers = max(1, min(WORKERS, count))
    shares = [count // workers + (1 if i < count % workers else 0) for i in range(workers)]

    def work(n, new_conn):
        got = []
        c = new_conn()
        try:
            for _ in range(n):
                if failure:
                    return
                got.append(make_one(c))
        except Exception as e:  # noqa: BLE001 - reported, then the run fails
            failure.append(str(e))
        finally:
            c.close()
            with lock:
                values.extend(got)

    threads = [threading.Thread(target=work, args=(n, make_one.new_conn)) for n in shares]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failure:
        sys.exit(f"single_use.py: {failure[0]}")
    if len(values) != count or len(set(values)) != count:
        sys.exit(f"single_use.py: got {len(values)} values ({len(set(values))} distinct), wanted {count}")
    write_values(out_path, values)
    secs = time.time() - start
    print(f"[single_use] {count} {what} in {secs:.1f}s ({count / secs:.0f}/s, {workers} threads)",
          file=sys.stderr)


def codes(base, client_id, redirect_uri, challenge, count, out_path):
    session = os.environ.get("BENCH_SESSION") or sys.exit("single_use.py: $BENCH_SESSION is not set")
    path = "/oauth2/authorize?" + urllib.parse.urlencode({
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    })
    headers = {"Cookie": f"tollgate_session={session}"}

    def one(c):
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        body = r.read()
        loc = r.getheader("Location") or ""
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)
        if r.status != 302 or not loc.startswith(redirect_uri) or "code" not in q:
            raise RuntimeError(f"GET /oauth2/authorize answered {r.status}, Location {loc!r}: "
                               f"{body[:300]!r}")
        return q["code"][0]

    one.new_conn = conn_for(base)
    run_parallel(count, out_path, one, "authorization codes")


def refresh(base, scope, count, out_path):
    basic = os.environ.get("BENCH_BASIC") or sys.exit("single_use.py: $BENCH_BASIC is not set")
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": scope})
    headers = {
        "Authorization": f"Basic {basic}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    def one(c):
        c.request("POST", "/oauth2/token", body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError(f"POST /oauth2/token answered {r.status}: {data[:300]!r}")
        tok = json.loads(data).get("refresh_token")
        if not tok:
            raise RuntimeError(f"no refresh_token in the client_credentials answer: {data[:300]!r}")
        return tok

    one.new_conn = conn_for(base)
    run_parallel(count, out_path, one, "refresh tokens")


def assertions(key_pem, kid, client_id, audience, count, out_path):
    """Signs COUNT client assertions without the server: each request of the
    private_key_jwt scenario needs a fresh one (the server refuses a jti it
    has seen)."""
    import jwt  # PyJWT: only this mode needs it
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    start = time.time()
    with open(key_pem, "rb") as f:
        key = load_pem_private_key(f.read(), password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        name = "ES256"
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        name = "EdDSA"
    elif isinstance(key, rsa.RSAPrivateKey):
        name = "RS256"
    else:
        sys.exit(f"single_use.py: unsupported key type {type(key).__name__}")
    now = int(time.time())
    headers = {"kid": kid, "typ": "JWT"}
    values = []
    for _ in range(count):
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "jti": base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode("ascii"),
            "iat": now,
            "exp": now + 600,
        }
        values.append(jwt.encode(claims, key, algorithm=name, headers=headers))
    write_values(out_path, values)
    secs = time.time() - start
    print(f"[single_use] {count} client assertions ({name}) in {secs:.1f}s ({count / secs:.0f}/s)",
          file=sys.stderr)


def main():
    a = sys.argv[1:]
    if a[:1] == ["login"] and len(a) == 3:
        pw = os.environ.get("BENCH_USER_PASSWORD") or sys.exit("single_use.py: $BENCH_USER_PASSWORD is not set")
        print(login(a[1], a[2], pw))
    elif a[:1] == ["codes"] and len(a) == 7:
        codes(a[1], a[2], a[3], a[4], int(a[5]), a[6])
    elif a[:1] == ["refresh"] and len(a) == 5:
        refresh(a[1], a[2], int(a[3]), a[4])
    elif a[:1] == ["assertions"] and len(a) == 7:
        assertions(a[1], a[2], a[3], a[4], int(a[5]), a[6])
    elif a[:1] == ["s256"] and len(a) == 2:
        print(s256(a[1]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
