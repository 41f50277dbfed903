"""A real JWKS endpoint on loopback (an HTTP server in a thread) and the keys and tokens JWT tests sign with."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.servers import free_port

HMAC_SECRET = b"an HMAC secret of at least 32 bytes, for HS512 64 bytes: 0123456789"


class JwksServer:
    """Serves ``{"keys": self.keys}`` at ``/jwks.json``; ``down()`` closes the port, ``up()`` opens it again."""

    def __init__(self):
        self.port = free_port()
        self.keys: list[dict] = []
        self.requests = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/jwks.json"

    def up(self) -> JwksServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests += 1
                body = json.dumps({"keys": owner.keys}).encode()
                self.send_response(200 if self.path == "/jwks.json" else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(private_key) -> bytes:
    return private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def jwk(private_key, kid: str, **extra) -> dict:
    algorithm = RSAAlgorithm if isinstance(private_key, rsa.RSAPrivateKey) else ECAlgorithm
    return {**algorithm.to_jwk(private_key.public_key(), as_dict=True), "kid": kid, "use": "sig", **extra}


def token(key, claims: dict | None = None, algorithm: str = "HS256", kid: str | None = None, **times) -> str:
    """A signed token; ``exp=-10`` etc. are seconds from now; ``sub`` defaults to alice, ``pol`` to gold."""
    now = int(time.time())
    body = {"sub": "alice", "pol": "gold", **(claims or {})}
    body.update({name: now + offset for name, offset in times.items()})
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(body, key, algorithm=algorithm, headers=headers)


def unsigned(claims: dict | None = None, header: dict | None = None) -> str:
    """A token with ``alg: none`` (or any header), no signature."""
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part(header or {'alg': 'none', 'typ': 'JWT'})}.{part({'sub': 'alice', 'pol': 'gold', **(claims or {})})}."
