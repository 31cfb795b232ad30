"""Test doubles for the identity providers the auth methods talk to, run in threads of the test
process: a Kubernetes API server that answers TokenReviews over HTTPS for service-account JWTs
it signed itself, and a JWKS endpoint (HTTP or HTTPS) whose key set the test can rotate.

No Kubernetes API server can run here, so `TokenReviewServer` speaks the real wire format of
`POST /apis/authentication.k8s.io/v1/tokenreviews`: it requires `Authorization: Bearer <token
reviewer JWT>` (401 with a `Status` object otherwise), verifies the reviewed token's RS256
signature, expiry and audiences with PyJWT exactly as the API server's service-account
authenticator would, and answers `201 Created` with a `TokenReview` whose `status` carries
`authenticated`, `user` (`system:serviceaccount:<ns>:<name>`, uid, groups, extra) and
`audiences`, or `error` for a token it does not accept.
"""

import base64
import http.server
import json
import ssl
import threading
import time
import uuid

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

CLUSTER_ISSUER = "https://kubernetes.default.svc.cluster.local"
TOKEN_REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def private_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _b64url_uint(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def rsa_jwk(key, kid: str) -> dict:
    """The public JWK of an RSA key, built from its numbers (RFC 7517/7518)."""
    numbers = key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "n": _b64url_uint(numbers.n),
        "e": _b64url_uint(numbers.e),
    }


class ThreadedServer:
    """An `http.server` in a daemon thread on 127.0.0.1, optionally wrapped in TLS."""

    def __init__(self, handler_cls, tls=None):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.scheme = "http"
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls["cert"]), str(tls["key"]))
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.port = self.httpd.server_address[1]
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep pytest output clean
        pass

    def send_json(self, status, body):
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def read_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")


# ---------------------------------------------------------------------------------------------
# Kubernetes TokenReview


class _TokenReviewHandler(_Handler):
    def do_POST(self):
        cluster = self.server.owner
        body = self.read_json()
        cluster.requests.append({
            "path": self.path,
            "authorization": self.headers.get("Authorization"),
            "content_type": self.headers.get("Content-Type"),
            "body": body,
        })
        if self.path != TOKEN_REVIEW_PATH:
            self.send_json(404, cluster.status(404, "NotFound", "the server could not find "
                                                               "the requested resource"))
            return
        auth = self.headers.get("Authorization") or ""
        if auth != f"Bearer {cluster.reviewer_jwt}":
            self.send_json(401, cluster.status(401, "Unauthorized", "Unauthorized"))
            return
        if body.get("kind") != "TokenReview" or body.get("apiVersion") not in (
            "authentication.k8s.io/v1",
        ):
            self.send_json(400, cluster.status(400, "BadRequest", "expected a TokenReview"))
            return
        spec = body.get("spec") or {}
        self.send_json(201, cluster.review(spec.get("token", ""), spec.get("audiences") or []))


class TokenReviewServer(ThreadedServer):
    """A fake Kubernetes API server: it signs service-account tokens with its own key and
    reviews them the way kube-apiserver does."""

    def __init__(self, tls):
        super().__init__(_TokenReviewHandler, tls=tls)
        self.key = rsa_key()
        self.requests = []
        self.revoked = set()
        self.accounts = {}  # (namespace, name) -> uid
        self.reviewer_jwt = self.service_account_token("kube-system", "hush-token-reviewer")

    @staticmethod
    def status(code, reason, message):
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "code": code}

    def uid(self, namespace, name):
        return self.accounts.setdefault((namespace, name), str(uuid.uuid4()))

    def service_account_token(self, namespace, name, audiences=None, ttl=3600, key=None,
                              legacy=False, claims=None):
        """A service-account JWT as the cluster issues it: projected (bound) by default, or a
        legacy secret-based token."""
        now = int(time.time())
        uid = self.uid(namespace, name)
        if legacy:
            payload = {
                "iss": "kubernetes/serviceaccount",
                "kubernetes.io/serviceaccount/namespace": namespace,
                "kubernetes.io/serviceaccount/secret.name": f"{name}-token-x7k2p",
                "kubernetes.io/serviceaccount/service-account.name": name,
                "kubernetes.io/serviceaccount/service-account.uid": uid,
                "sub": f"system:serviceaccount:{namespace}:{name}",
            }
        else:
            payload = {
                "aud": audiences or [CLUSTER_ISSUER],
                "exp": now + ttl,
                "iat": now,
                "nbf": now,
                "iss": CLUSTER_ISSUER,
                "kubernetes.io": {
                    "namespace": namespace,
                    "pod": {"name": f"{name}-5d8f7c9b6-abcde", "uid": str(uuid.uuid4())},
                    "serviceaccount": {"name": name, "uid": uid},
                },
                "sub": f"system:serviceaccount:{namespace}:{name}",
            }
        payload.update(claims or {})
        return pyjwt.encode(payload, private_pem(key or self.key), algorithm="RS256",
                            headers={"kid": "cluster-sa-key"})

    def review(self, token, audiences):
        """The TokenReview the API server would give back for `token`."""
        out = {
            "kind": "TokenReview",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": {"token": token, **({"audiences": audiences} if audiences else {})},
        }

        def fail(why):
            out["status"] = {"user": {}, "error": f"[invalid bearer token, {why}]"}
            return out

        try:
            claims = pyjwt.decode(token, self.key.public_key(), algorithms=["RS256"],
                                  options={"verify_aud": False, "require": ["sub"]})
        except pyjwt.ExpiredSignatureError:
            return fail("token has expired")
        except pyjwt.InvalidSignatureError:
            return fail("square/go-jose: error in cryptographic primitive")
        except pyjwt.PyJWTError as e:
            return fail(str(e))
        if token in self.revoked:
            return fail("service account token has been invalidated")
        token_auds = claims.get("aud") or [CLUSTER_ISSUER]
        if isinstance(token_auds, str):
            token_auds = [token_auds]
        wanted = audiences or [CLUSTER_ISSUER]
        granted = [a for a in wanted if a in token_auds]
        if not granted:
            return fail("token audiences [%s] is invalid for the target audiences [%s]"
                        % (" ".join(token_auds), " ".join(wanted)))
        parts = claims["sub"].split(":")
        if len(parts) != 4 or parts[:2] != ["system", "serviceaccount"]:
            return fail("not a service account token")
        namespace, name = parts[2], parts[3]
        extra = {}
        pod = (claims.get("kubernetes.io") or {}).get("pod")
        if pod:
            extra = {"authentication.kubernetes.io/pod-name": [pod["name"]],
                     "authentication.kubernetes.io/pod-uid": [pod["uid"]]}
        out["status"] = {
            "authenticated": True,
            "user": {
                "username": f"system:serviceaccount:{namespace}:{name}",
                "uid": self.uid(namespace, name),
                "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}",
                           "system:authenticated"],
                **({"extra": extra} if extra else {}),
            },
            "audiences": granted,
        }
        return out


# ---------------------------------------------------------------------------------------------
# JWKS


class _JwksHandler(_Handler):
    def do_GET(self):
        idp = self.server.owner
        if self.path != idp.path:
            self.send_json(404, {"error": "not found"})
            return
        idp.fetches += 1
        self.send_json(200, {"keys": list(idp.keys)})


class JwksServer(ThreadedServer):
    """A JWKS endpoint whose `keys` the test changes to rotate signing keys; `fetches` counts
    how often it was read."""

    path = "/.well-known/jwks.json"

    def __init__(self, keys=(), tls=None):
        super().__init__(_JwksHandler, tls=tls)
        self.keys = list(keys)
        self.fetches = 0
        self.jwks_url = self.url + self.path
