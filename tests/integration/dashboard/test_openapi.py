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


def test_openapi_documents_keys_and_policies(client):
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert set(paths["/api/portal/policies"]) == {"get", "post"}
    assert set(paths["/api/portal/policies/{policy_id}"]) == {"get", "put", "delete"}
    assert set(paths["/api/keys"]) == {"get", "post"}
    assert set(paths["/api/keys/{key}"]) == {"get", "post", "put", "delete"}
    components = schema["components"]["schemas"]
    assert set(components["KeyData"]["properties"]) == {"api_model", "key_id", "data", "key_hash"}
    assert "access_rights" in components["KeyData"]["properties"]["data"]["properties"]
    assert set(components["KeyList"]["properties"]) == {"data", "pages"}
    assert set(components["PolicyList"]["properties"]) == {"Data", "Pages"}
    policy = components["PolicyList"]["properties"]["Data"]["items"]
    assert {"access_rights", "partitions", "key_expires_in"} <= set(policy["properties"])
    key_parameters = {parameter["name"] for parameter in paths["/api/keys/{key}"]["put"]["parameters"]}
    assert key_parameters == {"key", "hashed", "suppress_reset"}
    for path in ("/api/keys", "/api/keys/{key}", "/api/portal/policies", "/api/portal/policies/{policy_id}"):
        for operation in paths[path].values():
            assert {"400", "401"} <= set(operation["responses"]), (path, operation["summary"])
    assert "503" in paths["/api/keys"]["get"]["responses"]
