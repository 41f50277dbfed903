"""The API designer form and the Tyk definition it edits, both ways.

``ApiForm.posted`` reads the submitted form into ``values`` (strings, checkboxes as "on" or "", and two lists of
rows: versions and endpoint rules); ``ApiForm.of_definition`` fills the same values from a stored definition.
``apply`` writes the form's fields over a copy of the stored definition, never rebuilding it, so whatever the form
does not show (fields Tollhouse does not know, another authentication kind's settings, other ``extended_paths``
lists) survives an edit. ``parse_definition`` still has the last word; ``field_of`` says which form field a dotted
definition path belongs to, so every error is shown next to the field that caused it.

The form checks the types of the cache and CORS fields it writes and what only the form can get
wrong (a rule naming no version); the rest is ``parse_definition``'s, called by the create and update functions.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import datetime

from tollhouse.core.apidef import HMAC_ALGORITHMS, JWT_ALGORITHMS
from tollhouse.core.endpoint_paths import endpoint_pattern
from tollhouse.dashboard.errors import BadRequest

AUTH_KINDS = {"keyless": "Keyless (open)", "token": "Auth token", "basic": "Basic auth", "jwt": "JWT",
              "signature": "HMAC signature"}
# The definition flag of each kind (the token kind is Tyk's use_standard_auth).
AUTH_FLAG = {"keyless": "use_keyless", "token": "use_standard_auth", "basic": "use_basic_auth", "jwt": "enable_jwt",
             "signature": "enable_signature_checking"}
# Where each kind reads its credential: Tyk's auth_configs.<name>.
AUTH_CONFIG = {"token": "authToken", "basic": "basic", "jwt": "jwt", "signature": "hmac"}
VERSION_LOCATIONS = {"header": "Header", "url-param": "Query parameter", "url": "First path segment"}
RULE_KINDS = {"black_list": "Block (black list)", "white_list": "Allow only (white list)",
              "ignored": "Skip authentication (ignored)"}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
EXPIRES_FORMAT = "%Y-%m-%d %H:%M"  # Tyk's version expiry, e.g. "2026-12-31 23:59"; empty: never
ROW_FIELD = re.compile(r"^(version|rule)-(\d{1,4})-([a-z_]+)$")
# Blank rows offered after the filled ones, so rows can be added without JavaScript.
SPARE_VERSIONS, SPARE_RULES = 1, 2

TEXT_FIELDS = ("name", "domain", "listen_path", "target_url", "auth", "auth_header_name", "param_name",
               "cookie_name", "jwt_signing_method", "jwt_source", "jwt_identity_base_field", "jwt_policy_field_name",
               "jwt_default_policies", "hmac_allowed_clock_skew", "rate", "per", "cache_timeout",
               "cache_response_codes", "cache_by_headers", "cors_allowed_origins", "cors_allowed_methods",
               "cors_allowed_headers", "cors_exposed_headers", "cors_max_age", "version_location", "version_key",
               "default_version")
CHECKBOXES = ("active", "strip_listen_path", "use_param", "use_cookie", "strip_auth_data", "enable_cache",
              "cache_all_safe_requests", "enable_upstream_cache_control", "cors_enable", "cors_allow_credentials",
              "cors_options_passthrough", "versioned")
# Dotted definition path -> form field, for the paths every form has (rows and auth configs are added per form).
STATIC_FIELDS = {
    "name": "name", "active": "active", "domain": "domain",
    "proxy": "listen_path", "proxy.listen_path": "listen_path", "proxy.target_url": "target_url",
    "proxy.strip_listen_path": "strip_listen_path",
    **{flag: "auth" for flag in AUTH_FLAG.values()}, "use_oauth2": "auth", "strip_auth_data": "strip_auth_data",
    **{name: name for name in ("jwt_signing_method", "jwt_source", "jwt_identity_base_field",
                               "jwt_policy_field_name", "jwt_default_policies", "hmac_allowed_clock_skew")},
    "hmac_allowed_algorithms": "hmac_allowed_algorithms",
    "global_rate_limit": "rate", "global_rate_limit.rate": "rate", "global_rate_limit.per": "per",
    **{f"cache_options.{name}": name for name in ("enable_cache", "cache_timeout", "cache_all_safe_requests",
                                                  "cache_response_codes", "cache_by_headers",
                                                  "enable_upstream_cache_control")},
    **{f"CORS.{name}": f"cors_{name}" for name in ("enable", "allowed_origins", "allowed_methods", "allowed_headers",
                                                   "exposed_headers", "allow_credentials", "max_age",
                                                   "options_passthrough")},
    "definition": "version_location", "definition.location": "version_location", "definition.key": "version_key",
    "version_data": "versions", "version_data.not_versioned": "versioned", "version_data.versions": "versions",
    "version_data.default_version": "default_version",
}
NEW_API = {"active": "on", "strip_listen_path": "on", "auth": "keyless", "auth_header_name": "Authorization",
           "jwt_signing_method": "hmac", "cache_timeout": "60", "cache_response_codes": "200",
           "cors_allowed_methods": "GET, POST, HEAD", "cors_max_age": "24", "version_location": "header",
           "version_key": "x-api-version", "versions": [{"name": "Default", "expires": "", "was": ""}]}


@dataclass
class ApiForm:
    values: dict
    # Dotted definition path -> form field, for this form's rows and authentication config.
    fields: dict[str, str] = field(default_factory=dict)

    @classmethod
    def new(cls) -> ApiForm:
        values = {name: "" for name in TEXT_FIELDS + CHECKBOXES} | copy.deepcopy(NEW_API)
        return cls({**values, "hmac_allowed_algorithms": [], "rules": []})

    @classmethod
    def posted(cls, form: dict[str, str]) -> ApiForm:
        values: dict = {name: form.get(name, "").strip() for name in TEXT_FIELDS}
        values |= {name: "on" if form.get(name) else "" for name in CHECKBOXES}
        values["hmac_allowed_algorithms"] = [name for name in HMAC_ALGORITHMS if form.get(f"hmac_alg-{name}")]
        rows: dict[tuple[str, int], dict[str, str]] = {}
        for key, value in form.items():
            match = ROW_FIELD.match(key)
            if match:
                rows.setdefault((match[1], int(match[2])), {})[match[3]] = value.strip()
        values["versions"] = [{"name": row.get("name", ""), "expires": row.get("expires", ""),
                               "was": row.get("was", "")}
                              for (kind, _), row in sorted(rows.items()) if kind == "version"]
        values["rules"] = [{"version": row.get("version", ""), "path": row.get("path", ""),
                            "method": row.get("method", ""), "kind": row.get("kind", "")}
                           for (kind, _), row in sorted(rows.items()) if kind == "rule"]
        return cls(values)

    @classmethod
    def of_definition(cls, raw: dict) -> ApiForm:
        return cls(values_of(raw))

    def rows(self) -> tuple[list[dict], list[dict]]:
        """The version and rule rows to show: the filled ones, then blank ones to add more without script."""
        versions = [row for row in self.values["versions"] if any(row.values())]
        rules = [row for row in self.values["rules"] if row["path"] or row["version"]]
        blank_rule = {"version": "", "path": "", "method": "GET", "kind": "black_list"}
        return (versions + [{"name": "", "expires": "", "was": ""}] * SPARE_VERSIONS,
                rules + [dict(blank_rule) for _ in range(SPARE_RULES)])

    def field_of(self, path: str) -> str | None:
        """The form field a definition path belongs to: its own, else its nearest mapped parent's."""
        parts = path.split(".")
        while parts:
            dotted = ".".join(parts)
            found = self.fields.get(dotted) or STATIC_FIELDS.get(dotted)
            if found:
                return found
            parts.pop()
        return None

    def apply(self, stored: dict) -> dict:
        """A copy of ``stored`` with the form's fields written over it; ``BadRequest`` for what the form can tell
        is wrong before the definition is validated as a whole."""
        errors: list[tuple[str, str]] = []
        raw = copy.deepcopy(stored)
        values = self.values
        raw["name"] = values["name"]
        raw["active"] = bool(values["active"])
        if values["domain"] or "domain" in raw:
            raw["domain"] = values["domain"].lower()  # host names are case-blind; the route index is lower case
        proxy = _section(raw, "proxy")
        proxy |= {"listen_path": values["listen_path"], "target_url": values["target_url"],
                  "strip_listen_path": bool(values["strip_listen_path"])}
        self._apply_auth(raw, errors)
        _apply_rate_limit(raw, values, errors)
        _apply_cache(raw, values, errors)
        _apply_cors(raw, values, errors)
        self._apply_versions(raw, errors)
        if errors:
            raise BadRequest(errors)
        return raw

    def _apply_auth(self, raw: dict, errors: list) -> None:
        values = self.values
        kind = values["auth"]
        if kind not in AUTH_KINDS:
            errors.append(("use_keyless", "choose one of: " + ", ".join(AUTH_KINDS.values())))
            return
        for other, flag in AUTH_FLAG.items():
            raw[flag] = other == kind
        if kind != "token" and raw.get("use_oauth2"):
            raw["use_oauth2"] = False  # OAuth2 issues tokens: it only goes with the token kind
        if kind == "keyless":
            return
        raw["strip_auth_data"] = bool(values["strip_auth_data"])
        name = AUTH_CONFIG[kind]
        configs = _section(raw, "auth_configs")
        config = configs[name] if isinstance(configs.get(name), dict) else {}
        configs[name] = config | {
            "auth_header_name": values["auth_header_name"] or "Authorization",
            "use_param": bool(values["use_param"]), "param_name": values["param_name"],
            "use_cookie": bool(values["use_cookie"]), "cookie_name": values["cookie_name"]}
        for setting in ("auth_header_name", "use_param", "param_name", "use_cookie", "cookie_name"):
            self.fields[f"auth_configs.{name}.{setting}"] = setting
        if kind == "jwt":
            raw |= {"jwt_signing_method": values["jwt_signing_method"], "jwt_source": values["jwt_source"],
                    "jwt_identity_base_field": values["jwt_identity_base_field"],
                    "jwt_policy_field_name": values["jwt_policy_field_name"],
                    "jwt_default_policies": _list(values["jwt_default_policies"])}
            if values["jwt_signing_method"] not in JWT_ALGORITHMS:
                errors.append(("jwt_signing_method", "choose hmac, rsa or ecdsa"))
        if kind == "signature":
            raw["hmac_allowed_algorithms"] = list(values["hmac_allowed_algorithms"])
            skew = _number(values["hmac_allowed_clock_skew"] or "0")
            if skew is None:
                errors.append(("hmac_allowed_clock_skew", "must be a number of milliseconds"))
            else:
                raw["hmac_allowed_clock_skew"] = skew

    def _apply_versions(self, raw: dict, errors: list) -> None:
        values = self.values
        location = _section(raw, "definition")
        location |= {"location": values["version_location"], "key": values["version_key"]}
        if values["version_location"] not in VERSION_LOCATIONS:
            errors.append(("definition.location", "choose header, url-param or url"))
        if not values["version_key"] and values["version_location"] != "url":
            errors.append(("definition.key", "name the header or query parameter that carries the version"))
        data = _section(raw, "version_data")
        before = data.get("versions") if isinstance(data.get("versions"), dict) else {}
        versions: dict[str, dict] = {}
        for index, row in enumerate(values["versions"]):
            name = row["name"]
            if not name:
                continue  # a cleared row: the version is removed
            path = f"version_data.versions.{name}"
            self.fields[path] = f"version-{index}-name"
            self.fields[f"{path}.expires"] = f"version-{index}-expires"
            if name in versions:
                errors.append((path, "is named twice"))
                continue
            if "." in name:
                errors.append((path, "must not contain '.'"))
                continue
            if row["expires"] and not _is_expiry(row["expires"]):
                errors.append((f"{path}.expires", "must be a date and time as YYYY-MM-DD HH:MM, or empty: never"))
            kept = before.get(row["was"] or name)
            versions[name] = (copy.deepcopy(kept) if isinstance(kept, dict) else {}) | {
                "name": name, "expires": row["expires"]}
        versioned = bool(values["versioned"])
        if not versions and not versioned:
            versions["Default"] = {"name": "Default", "expires": ""}  # Tyk's one version of an unversioned API
        data |= {"not_versioned": not versioned, "default_version": values["default_version"], "versions": versions}
        self._apply_rules(versions, errors)

    def _apply_rules(self, versions: dict[str, dict], errors: list) -> None:
        """The endpoint rules as Tyk's ``extended_paths`` lists: one entry per path, its methods in
        ``method_actions``; other fields of an entry and the other ``extended_paths`` lists are kept."""
        lists: dict[str, dict[str, dict[str, dict]]] = {name: {kind: {} for kind in RULE_KINDS} for name in versions}
        for index, row in enumerate(self.values["rules"]):
            if not row["path"]:
                continue  # a cleared or spare row
            field_name = f"rule-{index}"
            version = row["version"] or (next(iter(versions)) if len(versions) == 1 else "")
            problem = _rule_problem(row, version, versions)
            if problem:
                errors.append((f"{field_name}.{problem[0]}", problem[1]))
                self.fields[f"{field_name}.{problem[0]}"] = f"{field_name}-{problem[0]}"
                continue
            lists[version][row["kind"]].setdefault(row["path"], {})[row["method"]] = index
        for name, version in versions.items():
            extended = version.get("extended_paths")
            extended = copy.deepcopy(extended) if isinstance(extended, dict) else {}
            for kind, paths in lists[name].items():
                if paths or kind in extended:
                    extended[kind] = _entries(extended.get(kind), paths)
            version["use_extended_paths"] = True
            version["extended_paths"] = extended


def values_of(raw: dict) -> dict:
    """The form's values for a stored definition (what the form does not show is left to ``apply`` to keep)."""
    form = ApiForm.new().values
    get = _getter(raw)
    kind = _auth_kind(raw)
    config = get(f"auth_configs.{AUTH_CONFIG.get(kind, 'authToken')}", {})
    config = config if isinstance(config, dict) else {}
    limit = get("global_rate_limit", {})
    rate, per = (limit.get("rate"), limit.get("per")) if isinstance(limit, dict) else (None, None)
    has_limit = bool(rate) and bool(per)
    form |= {
        "name": _text(raw.get("name")), "active": _on(raw.get("active", True)), "domain": _text(raw.get("domain")),
        "listen_path": _text(get("proxy.listen_path")), "target_url": _text(get("proxy.target_url")),
        "strip_listen_path": _on(get("proxy.strip_listen_path")), "auth": kind,
        "auth_header_name": _text(config.get("auth_header_name")) or "Authorization",
        "use_param": _on(config.get("use_param")), "param_name": _text(config.get("param_name")),
        "use_cookie": _on(config.get("use_cookie")), "cookie_name": _text(config.get("cookie_name")),
        "strip_auth_data": _on(raw.get("strip_auth_data")),
        "jwt_signing_method": _text(raw.get("jwt_signing_method")) or "hmac",
        "jwt_source": _text(raw.get("jwt_source")),
        "jwt_identity_base_field": _text(raw.get("jwt_identity_base_field")),
        "jwt_policy_field_name": _text(raw.get("jwt_policy_field_name")),
        "jwt_default_policies": _joined(raw.get("jwt_default_policies")),
        "hmac_allowed_algorithms": [name for name in raw.get("hmac_allowed_algorithms") or []
                                    if name in HMAC_ALGORITHMS],
        "hmac_allowed_clock_skew": _text(raw.get("hmac_allowed_clock_skew")),
        "rate": _text(rate) if has_limit else "", "per": _text(per) if has_limit else "",
        "enable_cache": _on(get("cache_options.enable_cache")),
        "cache_timeout": _text(get("cache_options.cache_timeout", 60)),
        "cache_all_safe_requests": _on(get("cache_options.cache_all_safe_requests")),
        "cache_response_codes": _joined(get("cache_options.cache_response_codes")),
        "cache_by_headers": _joined(get("cache_options.cache_by_headers")),
        "enable_upstream_cache_control": _on(get("cache_options.enable_upstream_cache_control")),
        "version_location": _text(get("definition.location", "header")),
        "version_key": _text(get("definition.key", "x-api-version")),
        "versioned": _on(not get("version_data.not_versioned", True)),
        "default_version": _text(get("version_data.default_version")),
    }
    for name in ("enable", "allow_credentials", "options_passthrough"):
        form[f"cors_{name}"] = _on(get(f"CORS.{name}"))
    for name in ("allowed_origins", "allowed_methods", "allowed_headers", "exposed_headers"):
        form[f"cors_{name}"] = _joined(get(f"CORS.{name}"))
    form["cors_max_age"] = _text(get("CORS.max_age", 24))
    versions = get("version_data.versions", {})
    versions = versions if isinstance(versions, dict) else {}
    form["versions"] = [{"name": name, "expires": _text(version.get("expires") if isinstance(version, dict) else ""),
                         "was": name} for name, version in versions.items()]
    form["rules"] = [rule for name, version in versions.items() if isinstance(version, dict)
                     for rule in _rules_of(name, version)]
    return form


def _rules_of(version_name: str, version: dict) -> list[dict]:
    extended = version.get("extended_paths")
    rules = []
    for kind in RULE_KINDS:
        entries = extended.get(kind) if isinstance(extended, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            actions = entry.get("method_actions")
            methods = list(actions) if isinstance(actions, dict) and actions else [entry.get("method") or "GET"]
            rules += [{"version": version_name, "path": _text(entry.get("path")), "method": method, "kind": kind}
                      for method in methods]
    return rules


def _entries(existing, paths: dict[str, dict[str, int]]) -> list[dict]:
    """Tyk's entries for one list: ``{path, method_actions: {METHOD: {action, code, data, headers}}}``, reusing the
    stored entry of a path (its other fields, and each kept method's action, e.g. a mock reply)."""
    before = {entry.get("path"): entry for entry in existing or [] if isinstance(entry, dict)}
    entries = []
    for path, methods in paths.items():
        entry = copy.deepcopy(before.get(path, {}))
        old_actions = entry.get("method_actions") if isinstance(entry.get("method_actions"), dict) else {}
        entry["path"] = path
        entry["method_actions"] = {
            method: old_actions.get(method) or {"action": "no_action", "code": 200, "data": "", "headers": {}}
            for method in methods}
        entry.pop("method", None)  # one shape: the methods are method_actions' keys
        entries.append(entry)
    return entries


def _rule_problem(row: dict, version: str, versions: dict) -> tuple[str, str] | None:
    if not version:
        return "version", "choose the version this rule belongs to"
    if version not in versions:
        return "version", f"{version!r} is not one of the versions above"
    if row["method"] not in METHODS:
        return "method", "choose an HTTP method"
    if row["kind"] not in RULE_KINDS:
        return "kind", "choose black list, white list or ignored"
    try:
        endpoint_pattern(row["path"])
    except re.error as exc:
        return "path", f"is not a valid regular expression: {exc}"
    return None


def _apply_rate_limit(raw: dict, values: dict, errors: list) -> None:
    rate, per = values["rate"], values["per"]
    if not rate and not per:
        if isinstance(raw.get("global_rate_limit"), dict):
            raw["global_rate_limit"] |= {"rate": 0, "per": 0}  # Tyk's "no global limit"
        return
    limit = {}
    for name, text in (("rate", rate), ("per", per)):
        number = _number(text)
        if number is None or number <= 0:
            errors.append((f"global_rate_limit.{name}", "must be a number greater than 0"
                           + (" (a rate limit needs both rate and per)" if not text else "")))
        else:
            limit[name] = number
    raw["global_rate_limit"] = (raw["global_rate_limit"] if isinstance(raw.get("global_rate_limit"), dict)
                                else {}) | limit


def _apply_cache(raw: dict, values: dict, errors: list) -> None:
    cache = _section(raw, "cache_options")
    cache |= {name: bool(values[name]) for name in ("enable_cache", "cache_all_safe_requests",
                                                    "enable_upstream_cache_control")}
    cache["cache_timeout"] = _whole(values["cache_timeout"], "cache_options.cache_timeout", errors,
                                    "must be a whole number of seconds, 0 or more")
    codes = []
    for text in _list(values["cache_response_codes"]):
        code = _number(text)
        if not isinstance(code, int) or not 100 <= code <= 599:
            errors.append(("cache_options.cache_response_codes", f"{text!r} is not an HTTP status code"))
            break
        codes.append(code)
    cache["cache_response_codes"] = codes
    cache["cache_by_headers"] = _list(values["cache_by_headers"])


def _apply_cors(raw: dict, values: dict, errors: list) -> None:
    cors = _section(raw, "CORS")
    for name in ("enable", "allow_credentials", "options_passthrough"):
        cors[name] = bool(values[f"cors_{name}"])
    for name in ("allowed_origins", "allowed_methods", "allowed_headers", "exposed_headers"):
        cors[name] = _list(values[f"cors_{name}"])
    for method in cors["allowed_methods"]:
        if not re.fullmatch(r"[A-Za-z]+", method):
            errors.append(("CORS.allowed_methods", f"{method!r} is not an HTTP method"))
            break
    cors["max_age"] = _whole(values["cors_max_age"], "CORS.max_age", errors,
                             "must be a whole number of seconds, 0 or more")


def _section(raw: dict, name: str) -> dict:
    """``raw[name]`` as a dict to edit in place (created when absent; a non-object, invalid anyway, is replaced)."""
    if not isinstance(raw.get(name), dict):
        raw[name] = {}
    return raw[name]


def _auth_kind(raw: dict) -> str:
    for kind in ("keyless", "basic", "jwt", "signature"):
        if raw.get(AUTH_FLAG[kind]) is True:
            return kind
    return "token"


def _getter(raw: dict):
    def get(path: str, default=None):
        value = raw
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                return default
            value = value[part]
        return value
    return get


def _list(text: str) -> list[str]:
    """Comma- or line-separated items."""
    return [item.strip() for item in re.split(r"[,\n]", text) if item.strip()]


def _joined(value) -> str:
    return ", ".join(str(item) for item in value) if isinstance(value, list) else ""


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _on(value) -> str:
    return "on" if value else ""


def _is_expiry(text: str) -> bool:
    try:
        datetime.strptime(text, EXPIRES_FORMAT)
    except ValueError:
        return False
    return True


def _whole(text: str, path: str, errors: list, message: str) -> int:
    number = _number(text)
    if not isinstance(number, int) or number < 0:
        errors.append((path, message))
        return 0
    return number


def _number(text: str) -> int | float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return int(number) if number.is_integer() else number
