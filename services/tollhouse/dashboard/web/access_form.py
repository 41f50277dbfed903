"""The form fields keys and policies share: rate limit, quota and access rights (which APIs, which versions).

A form posts one value per name (``session.read_form``), so the choices are checkboxes with names of their own:
``api:<api_id>`` ticks an API, ``version:<api_id>:<version>`` one of its versions (none ticked: every version),
``policy:<policy_id>`` a policy. API and policy ids cannot hold ':' (their patterns), so the names split cleanly.

Parsing only turns text into numbers and lists (a word where a number belongs is reported here, next to its
field); every rule about the values themselves (no negative rate, APIs of the organisation...) is left to the
JSON API's validation, whose errors ``field_of`` places next to the field they name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LIMIT_FIELDS = ("rate", "per", "quota_max", "quota_renewal_rate")
UNLIMITED = -1


@dataclass(frozen=True)
class ApiChoice:
    """An API offered in the access rights: its id, name and the versions it can be limited to."""

    api_id: str
    name: str
    versions: list[str] = field(default_factory=list)  # empty: unversioned, nothing to choose
    missing: bool = False  # granted by the stored document, but no longer an API of the organisation


def api_choices(api_documents: list[dict], granted: dict) -> list[ApiChoice]:
    """The organisation's APIs, then any API the stored access rights still name (so that saving shows the error
    rather than silently dropping the right). Versions offered: the API's, plus any the stored rights name."""
    choices = []
    for document in api_documents:
        definition = document.get("definition") or {}
        data = definition.get("version_data") or {}
        versions = [] if data.get("not_versioned", True) else list(data.get("versions") or {})
        if versions:  # an unversioned API's stored versions stay as they are (access_rights_of)
            stored = (granted.get(document["api_id"]) or {}).get("versions") or []
            versions += [version for version in stored if version not in versions]
        choices.append(ApiChoice(document["api_id"], document.get("name") or document["api_id"], versions))
    known = {choice.api_id for choice in choices}
    choices += [ApiChoice(api_id, api_id, missing=True) for api_id in granted if api_id not in known]
    return choices


def number(form: dict[str, str], name: str, errors: dict[str, list[str]], *, whole: bool,
           empty: float | int) -> float | int:
    """The field as a number (``empty`` when blank); a word records an error under the field's name."""
    text = form.get(name, "").strip()
    if not text:
        return empty
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        errors.setdefault(name, []).append("must be a whole number" if whole else "must be a number")
        return empty
    if not whole and value.is_integer():
        value = int(value)  # 10, not 10.0, in the stored document (as the JSON API's callers write it)
    return value


def limits_of(form: dict[str, str], errors: dict[str, list[str]]) -> dict:
    """rate/per (both blank: no rate limit) and quota max/renewal (blank max: no quota; blank renewal: never)."""
    rate = number(form, "rate", errors, whole=False, empty=0)
    per = number(form, "per", errors, whole=False, empty=0)
    for name, other in (("rate", "per"), ("per", "rate")):
        if not form.get(name, "").strip() and form.get(other, "").strip():
            errors.setdefault(name, []).append("a rate limit needs both rate and per")
    return {"rate": rate, "per": per,
            "quota_max": number(form, "quota_max", errors, whole=True, empty=UNLIMITED),
            "quota_renewal_rate": number(form, "quota_renewal_rate", errors, whole=True, empty=0)}


def limit_values(document: dict) -> dict[str, str]:
    """The limit fields as the form shows them: blank for "no rate limit", "no quota", "never renews"."""
    rate, per = document.get("rate") or 0, document.get("per") or 0
    quota_max = document.get("quota_max", UNLIMITED)
    renewal = document.get("quota_renewal_rate") or 0
    has_rate = rate > 0 and per > 0
    return {"rate": plain(rate) if has_rate else "", "per": plain(per) if has_rate else "",
            "quota_max": "" if quota_max is None or quota_max < 0 else plain(quota_max),
            "quota_renewal_rate": plain(renewal) if renewal else ""}


def plain(value) -> str:
    """A number without a needless ``.0``."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def duration(seconds: int) -> str:
    """``3600`` → ``1 h``; whole days, hours and minutes read more easily than seconds; 0 → ``never``."""
    if not seconds:
        return "never"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def ticked_apis(form: dict[str, str], choices: list[ApiChoice]) -> dict[str, list[str]]:
    """The APIs ticked, each with the versions ticked for it (offered versions only, in their order)."""
    return {choice.api_id: [version for version in choice.versions if f"version:{choice.api_id}:{version}" in form]
            for choice in choices if f"api:{choice.api_id}" in form}


def access_rights_of(ticked: dict[str, list[str]], choices: list[ApiChoice], stored: dict) -> dict:
    """The ``access_rights`` of the ticked APIs. A right that was stored keeps what the form does not show (allowed
    URLs, a per-API limit, unknown fields); an unversioned API keeps the versions it had."""
    names = {choice.api_id: choice for choice in choices}
    rights = {}
    for api_id, versions in ticked.items():
        choice = names[api_id]
        entry = dict(stored.get(api_id) or {})
        entry["api_id"] = api_id
        if not choice.missing:
            entry["api_name"] = choice.name
        if choice.versions or "versions" not in entry:
            entry["versions"] = versions
        rights[api_id] = entry
    return rights


def ticked_of(rights: dict) -> dict[str, list[str]]:
    """What a stored document's access rights tick in the form."""
    return {api_id: list((entry or {}).get("versions") or []) for api_id, entry in rights.items()}


def words(text: str) -> list[str]:
    """A comma-separated field as a list, blanks dropped."""
    return [word.strip() for word in text.split(",") if word.strip()]


# Where an error of the JSON API's validation is shown: the field a path's first part names.
FIELD_OF_PATH = {"id": "id", "_id": "id", "name": "name", "active": "active", "tags": "tags", "alias": "alias",
                 "key_expires_in": "key_expires_in", "expires": "expires_at", "access_rights": "access_rights",
                 "apply_policies": "policies", "apply_policy_id": "policies",
                 **{name: name for name in LIMIT_FIELDS}}


def place_errors(errors: list[tuple[str, str]], shown: set[str],
                 by_field: dict[str, list[str]]) -> list[str]:
    """Add each ``(path, message)`` to ``by_field`` under the form field it names when the form shows that field
    (``shown``); the others are returned as messages for the top of the form, naming their path."""
    general = []
    for path, message in errors:
        head = path.split(".", 1)[0]
        name = FIELD_OF_PATH.get(head)
        if name in shown:
            detail = path.split(".", 1)[1] if head == "access_rights" and "." in path else ""
            by_field.setdefault(name, []).append(f"{detail}: {message}" if detail else message)
        else:
            general.append(f"{path}: {message}")
    return general
