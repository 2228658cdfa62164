#!/usr/bin/python3
"""Third-party OAuth 2 authorization server used as a Tollgate test fixture.

Why this exists: the Tollgate gateway must accept tokens issued by an
authorization server that it does not control, validating them through
RFC 7662 token introspection. To keep the tests honest, the other side of that
conversation is a separate implementation (Authlib, a widely used Python OAuth
library), not a mock written next to the Rust code it is testing.

Supported protocol surface (all real Authlib machinery):
  POST /token       RFC 6749 client_credentials grant -> opaque bearer token
  POST /introspect  RFC 7662 token introspection (client_secret_basic only)
  POST /revoke      RFC 7009 token revocation

Test hooks (NOT part of any OAuth spec; they exist only so tests can observe
and steer the fixture):
  GET  /stats    -> {"introspections": N}
  POST /control  <- {"introspect_delay_ms": N, "introspect_status": 500|200|null}
  POST /issue    <- {"client_id", "scope", "expires_in"} -> {"access_token", ...}

Run with Debian's interpreter (python3-authlib 1.2.0, python3-flask 2.2):
  /usr/bin/python3 authlib_as.py --port 0 --clients clients.json
On startup it prints exactly one stdout line, once the socket is listening:
  listening on http://127.0.0.1:PORT
Everything else (werkzeug access log, errors) goes to stderr.
"""

import argparse
import json
import os
import secrets
import ssl
import threading
import time

from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

# Length of minted access tokens. Authlib's own default is 42; the gateway
# must treat tokens as opaque, so all that matters is "random and 40+ chars".
TOKEN_LENGTH = 48


# --------------------------------------------------------------------------
# Models and in-memory storage
# --------------------------------------------------------------------------

class Client(ClientMixin):
    """A confidential client loaded from clients.json.

    Implements the ClientMixin hooks that the client_credentials grant and the
    endpoint client authentication actually call.
    """

    def __init__(self, client_id, client_secret, scope):
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope or ''

    def get_client_id(self):
        return self.client_id

    def check_client_secret(self, client_secret):
        # Constant-time comparison, as recommended by Authlib's docstring.
        return secrets.compare_digest(self.client_secret, client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        # Which auth methods an endpoint accepts is decided by the endpoint /
        # grant classes below (CLIENT_AUTH_METHODS / TOKEN_ENDPOINT_AUTH_METHODS);
        # every client may use every method those classes offer.
        return method in ('client_secret_basic', 'client_secret_post')

    def check_grant_type(self, grant_type):
        return grant_type == 'client_credentials'

    def get_allowed_scope(self, scope):
        # Called by Authlib's BearerTokenGenerator with the requested scope.
        # Scopes outside the allowed set have already been rejected in
        # StrictClientCredentialsGrant, so this just normalises the string.
        if not scope:
            return ''
        allowed = set(scope_to_list(self.scope))
        return ' '.join(s for s in scope_to_list(scope) if s in allowed)

    # Redirect-based flows are not supported by this fixture.
    def get_default_redirect_uri(self):
        return None

    def check_redirect_uri(self, redirect_uri):
        return False

    def check_response_type(self, response_type):
        return False


class Token(TokenMixin):
    """An opaque access token. `issued_at`/`expires_at` are Unix seconds."""

    def __init__(self, access_token, client_id, scope, expires_in, sub=None):
        self.access_token = access_token
        self.client_id = client_id
        self.scope = scope or ''
        self.sub = sub or client_id  # client_credentials: the client is the subject
        self.token_type = 'Bearer'
        self.issued_at = int(time.time())
        self.expires_in = int(expires_in)
        self.expires_at = self.issued_at + self.expires_in
        self.revoked = False

    def check_client(self, client):
        # RevocationEndpoint only revokes a token for the client it was issued
        # to; for any other client revocation is a silent no-op (still 200).
        return self.client_id == client.get_client_id()

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return self.expires_in

    def is_expired(self):
        return time.time() >= self.expires_at

    def is_revoked(self):
        return self.revoked


class Store:
    """Thread-safe in-memory storage (the server is multi-threaded)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.clients = {}
        self.tokens = {}

    def add_client(self, client):
        with self.lock:
            self.clients[client.client_id] = client

    def get_client(self, client_id):
        with self.lock:
            return self.clients.get(client_id)

    def add_token(self, token):
        with self.lock:
            self.tokens[token.access_token] = token

    def get_token(self, access_token):
        with self.lock:
            return self.tokens.get(access_token)

    def revoke(self, token):
        with self.lock:
            token.revoked = True


class Controls:
    """Mutable test-hook state: introspection counter and fault injection."""

    def __init__(self):
        self.lock = threading.Lock()
        self.introspections = 0
        self.introspect_delay_ms = 0
        self.introspect_status = None  # None/200 = behave normally

    def count_introspection(self):
        with self.lock:
            self.introspections += 1
            return self.introspect_delay_ms, self.introspect_status


# --------------------------------------------------------------------------
# Authlib grant / endpoint subclasses
# --------------------------------------------------------------------------

class StrictClientCredentialsGrant(ClientCredentialsGrant):
    """client_credentials with two deliberate deviations from Authlib defaults.

    * Authlib only enables client_secret_basic at the token endpoint; the
      fixture also accepts client_secret_post.
    * Authlib silently drops requested scopes the client is not allowed
      (Client.get_allowed_scope filtering). For deterministic tests we instead
      reject them with `invalid_scope`, and when no scope is requested we grant
      the client's full allowed scope (RFC 6749 section 3.3 permits a default).
    """

    TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post']

    def validate_token_request(self):
        super().validate_token_request()  # authenticates the client
        client = self.request.client
        requested = scope_to_list(self.request.scope) or []
        allowed = set(scope_to_list(client.scope) or [])
        if any(s not in allowed for s in requested):
            raise InvalidScopeError()

    def create_token_response(self):
        client = self.request.client
        scope = self.request.scope or client.scope or None
        token = self.generate_token(scope=scope, include_refresh_token=False)
        self.save_token(token)
        self.execute_hook('process_token', self, token=token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


def make_introspection_endpoint(store, issuer):
    class Introspection(IntrospectionEndpoint):
        # RFC 7662 section 2.1: the protected resource authenticates itself.
        # Only HTTP Basic is accepted (Authlib's default), as the gateway uses it.
        CLIENT_AUTH_METHODS = ['client_secret_basic']

        def query_token(self, token_string, token_type_hint):
            # Only access tokens exist here; no refresh tokens are issued.
            return store.get_token(token_string)

        def check_permission(self, token, client, request):
            # Any authenticated client (i.e. the gateway's own credentials)
            # may introspect any token.
            return True

        def introspect_token(self, token):
            # Authlib already returns {"active": false} for unknown, expired
            # and revoked tokens before calling this.
            return {
                'active': True,
                'scope': token.get_scope(),
                'client_id': token.client_id,
                'sub': token.sub,
                'exp': token.expires_at,
                'iat': token.issued_at,
                'token_type': token.token_type,
                'iss': issuer,
            }

    return Introspection


def make_revocation_endpoint(store):
    class Revocation(RevocationEndpoint):
        CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post']

        def query_token(self, token_string, token_type_hint):
            return store.get_token(token_string)

        def revoke_token(self, token, request):
            # Mark rather than delete, so a revoked value stays inactive.
            store.revoke(token)

    return Revocation


# --------------------------------------------------------------------------
# Flask application
# --------------------------------------------------------------------------

def create_app(clients, issuer, expires_in):
    store = Store()
    controls = Controls()
    for c in clients:
        store.add_client(Client(c['client_id'], c['client_secret'], c.get('scope', '')))

    app = Flask(__name__)
    # Authlib's BearerTokenGenerator defaults client_credentials tokens to
    # 864000 s (10 days); pin it to the configured lifetime.
    app.config['OAUTH2_TOKEN_EXPIRES_IN'] = {'client_credentials': expires_in}
    app.config['OAUTH2_ACCESS_TOKEN_GENERATOR'] = lambda **_: generate_token(TOKEN_LENGTH)

    def save_token(token_data, req):
        store.add_token(Token(
            access_token=token_data['access_token'],
            client_id=req.client.get_client_id(),
            scope=token_data.get('scope', ''),
            expires_in=token_data['expires_in'],
        ))

    server = AuthorizationServer(app, query_client=store.get_client, save_token=save_token)
    server.register_grant(StrictClientCredentialsGrant)
    server.register_endpoint(make_introspection_endpoint(store, issuer))
    server.register_endpoint(make_revocation_endpoint(store))

    # ---- OAuth endpoints -------------------------------------------------

    @app.route('/token', methods=['POST'])
    def token():
        return server.create_token_response()

    @app.route('/introspect', methods=['POST'])
    def introspect():
        # Count every request, including those that fail auth or are forced
        # to fail, so tests can assert how often the gateway called us.
        delay_ms, status = controls.count_introspection()
        if delay_ms:
            time.sleep(delay_ms / 1000.0)
        if status is not None and status != 200:
            return jsonify({'error': 'injected_failure'}), status
        return server.create_endpoint_response(IntrospectionEndpoint.ENDPOINT_NAME)

    @app.route('/revoke', methods=['POST'])
    def revoke():
        return server.create_endpoint_response(RevocationEndpoint.ENDPOINT_NAME)

    # ---- TEST HOOKS (not OAuth; exist only for the test suite) -----------

    @app.route('/stats', methods=['GET'])
    def stats():
        """TEST HOOK: how many introspection requests were received."""
        with controls.lock:
            return jsonify({'introspections': controls.introspections})

    @app.route('/control', methods=['POST'])
    def control():
        """TEST HOOK: fault injection for /introspect.

        Only keys present in the body are changed. `introspect_status` null or
        200 restores normal behaviour; any other code is returned verbatim.
        """
        body = request.get_json(force=True, silent=True) or {}
        with controls.lock:
            if 'introspect_delay_ms' in body:
                controls.introspect_delay_ms = int(body['introspect_delay_ms'] or 0)
            if 'introspect_status' in body:
                s = body['introspect_status']
                controls.introspect_status = None if s is None else int(s)
            return jsonify({
                'introspect_delay_ms': controls.introspect_delay_ms,
                'introspect_status': controls.introspect_status,
            })

    @app.route('/issue', methods=['POST'])
    def issue():
        """TEST HOOK: mint a token directly, bypassing client auth and scope
        checks. `expires_in` may be 0 or negative to mint an expired token;
        `client_id` need not be a registered client; optional `sub`."""
        body = request.get_json(force=True, silent=True) or {}
        if not body.get('client_id'):
            return jsonify({'error': 'client_id required'}), 400
        tok = Token(
            access_token=generate_token(TOKEN_LENGTH),
            client_id=body['client_id'],
            scope=body.get('scope', ''),
            expires_in=body.get('expires_in', expires_in),
            sub=body.get('sub'),
        )
        store.add_token(tok)
        return jsonify({
            'access_token': tok.access_token,
            'token_type': tok.token_type,
            'expires_in': tok.expires_in,
            'scope': tok.scope,
        })

    return app


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=0, help='0 = pick a free port')
    p.add_argument('--clients', required=True, help='JSON list of {client_id, client_secret, scope}')
    p.add_argument('--expires-in', type=int, default=3600)
    p.add_argument('--issuer', default=None, help='default: this server\'s base URL')
    p.add_argument('--tls-cert')
    p.add_argument('--tls-key')
    # Mutual TLS (RFC 8705 transport): clients must present a certificate
    # that chains to this CA bundle.
    p.add_argument('--client-ca')
    args = p.parse_args()

    with open(args.clients) as f:
        clients = json.load(f)

    tls = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            p.error('--tls-cert and --tls-key must be given together')
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
        if args.client_ca:
            tls.verify_mode = ssl.CERT_REQUIRED
            tls.load_verify_locations(args.client_ca)
    else:
        # Authlib refuses plain-HTTP requests unless the URL starts with
        # "http://localhost:" (127.0.0.1 does not count!), and it raises that
        # error outside its own error handling, giving a 500. A local test
        # fixture on plain HTTP must opt out explicitly.
        os.environ['AUTHLIB_INSECURE_TRANSPORT'] = '1'

    # The issuer depends on the bound port, which is only known after binding,
    # so bind with a placeholder app first and install the real one after.
    holder = {}

    def dispatch(environ, start_response):
        return holder['app'](environ, start_response)

    srv = make_server(args.host, args.port, dispatch, threaded=True, ssl_context=tls)
    base_url = '%s://%s:%d' % ('https' if tls else 'http', args.host, srv.server_port)
    holder['app'] = create_app(clients, args.issuer or base_url, args.expires_in)

    # The socket is already listening (bound in make_server), so connections
    # made right after this line queue in the backlog until serve_forever runs.
    print('listening on %s' % base_url, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    main()
