"""/docs describes the API that really answers: routes, bodies, and the 400 (not 422) errors."""

from __future__ import annotations


def test_openapi_documents_the_real_api(client):
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert set(paths) >= {"/api/login", "/api/logout", "/api/apis", "/api/apis/{api_id}", "/system/apis",
                          "/system/policies", "/hello"}
    assert set(paths["/api/apis/{api_id}"]) == {"get", "put", "delete"}
    components = schema["components"]["schemas"]
    definition = components["ApiEnvelope"]["properties"]["api_definition"]
    assert definition["additionalProperties"] is True
    assert "target_url" in definition["properties"]["proxy"]["properties"]
    assert "HTTPValidationError" not in components
    assert "422" not in str(paths)
    assert paths["/api/apis"]["post"]["responses"]["400"]
    assert client.get("/docs").status_code == 200
