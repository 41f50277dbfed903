"""Which origins, methods and headers a CORS configuration allows, and what it answers (gateway/middleware/cors.py).

The middleware against a real gateway and upstream: tests/integration/test_cors.py.
"""

import pytest

from tollhouse.core.apidef import parse_definition
from tollhouse.gateway.compiled import compile_api
from tollhouse.gateway.middleware.cors import Cors


def cors(**config) -> Cors:
    raw = {"api_id": "a", "name": "a", "use_keyless": True,
           "proxy": {"listen_path": "/a/", "target_url": "http://127.0.0.1:9/"}, "CORS": {"enable": True, **config}}
    return Cors(compile_api(parse_definition(raw), raw))


LISTED = {"allowed_origins": ["https://app.example.com", "https://*.example.org", "null"]}


@pytest.mark.parametrize(
    ("config", "origin", "expected"),
    [
        ({}, "https://any.where", "*"),  # Tyk's default: every origin
        ({"allowed_origins": ["*"], "allow_credentials": True}, "https://any.where", "https://any.where"),
        # "*" with credentials echoes any origin but null (sandboxed documents, files).
        ({"allowed_origins": ["*"], "allow_credentials": True}, "null", None),
        (LISTED, "https://app.example.com", "https://app.example.com"),
        (LISTED, "HTTPS://APP.EXAMPLE.COM", "HTTPS://APP.EXAMPLE.COM"),  # compared case-insensitively
        (LISTED, "https://app.example.com.evil.net", None),
        (LISTED, "https://eu.api.example.org", "https://eu.api.example.org"),
        (LISTED, "https://example.org", None),  # "https://*.example.org" needs a subdomain
        (LISTED, "https://evil.example.org.net", None),
        (LISTED, "null", "null"),  # listed by name
        ({**LISTED, "allow_credentials": True}, "https://app.example.com", "https://app.example.com"),
    ],
)
def test_allowed_origin(config, origin, expected):
    assert cors(**config).allowed_origin(origin) == expected


VARY = ("vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")


@pytest.mark.parametrize(
    ("config", "origin", "method", "headers", "expected"),
    [
        ({}, "https://a.test", "post", "", [VARY, ("access-control-allow-origin", "*"),
                                             ("access-control-allow-methods", "POST")]),
        ({"allowed_methods": ["PUT"], "allowed_headers": ["X-Trace", "Authorization"], "max_age": 600,
          "allow_credentials": True, "allowed_origins": ["https://a.test"]},
         "https://a.test", "PUT", "authorization, X-Trace",
         [VARY, ("access-control-allow-origin", "https://a.test"), ("access-control-allow-methods", "PUT"),
          ("access-control-allow-headers", "authorization, x-trace"),
          ("access-control-allow-credentials", "true"), ("access-control-max-age", "600")]),
        ({"allowed_headers": ["*"]}, "https://a.test", "GET", "x-anything",
         [VARY, ("access-control-allow-origin", "*"), ("access-control-allow-methods", "GET"),
          ("access-control-allow-headers", "x-anything")]),
        # Refused: only Vary, the browser then refuses the real request.
        ({"allowed_origins": ["https://a.test"]}, "https://b.test", "GET", "", [VARY]),
        ({}, "https://a.test", "DELETE", "", [VARY]),
        ({}, "https://a.test", "GET", "content-type, x-secret", [VARY]),
    ],
)
def test_preflight_headers(config, origin, method, headers, expected):
    assert cors(**config).preflight_headers(origin, method, headers) == expected
