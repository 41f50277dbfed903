"""The new-key form: a key made from policies, or one with its own rate limit, quota and access rights.

``source`` says which: ``policies`` (the ticked ``policy:<id>`` boxes; the policies then set the limits and
access rights, as on the gateways) or ``direct`` (the limit fields and the ticked APIs). Either way an expiry:
``never`` or ``at`` a UTC date and time (``expires_at``, an ``<input type=datetime-local>``); a key made from
policies that expires "never" gets the longest key lifetime of its policies, as the JSON API does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tollhouse.dashboard.web.access_form import (
    ApiChoice,
    access_rights_of,
    limit_values,
    limits_of,
    ticked_apis,
)

SOURCES = {"policies": "From policies", "direct": "With its own limits and access rights"}
EXPIRY = {"never": "Never (or after the policies' key lifetime)", "at": "At (UTC)"}
# What browsers send from datetime-local: minutes, or seconds when the step allows them.
DATETIME_LOCAL = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")
FIELDS = {"alias", "source", "policies", "rate", "per", "quota_max", "quota_renewal_rate", "access_rights",
          "expiry", "expires_at"}


@dataclass(frozen=True)
class PolicyChoice:
    policy_id: str
    name: str
    active: bool


def blank_values() -> dict:
    return {"alias": "", "source": "policies", "policies": [], **limit_values({}), "ticked": {}, "expiry": "never",
            "expires_at": ""}


def posted(form: dict[str, str], policies: list[PolicyChoice], apis: list[ApiChoice],
           now: dt.datetime) -> tuple[dict, dict, dict[str, list[str]]]:
    """The session the form makes, the values to show again, and the errors found before any validation."""
    errors: dict[str, list[str]] = {}
    values = {"alias": form.get("alias", "").strip(), "source": form.get("source", ""),
              "policies": [choice.policy_id for choice in policies if f"policy:{choice.policy_id}" in form],
              **{name: form.get(name, "") for name in ("rate", "per", "quota_max", "quota_renewal_rate")},
              "ticked": ticked_apis(form, apis), "expiry": form.get("expiry", ""),
              "expires_at": form.get("expires_at", "").strip()}
    raw: dict = {"alias": values["alias"], "expires": _expires(values, now, errors)}
    if values["source"] == "policies":
        if not values["policies"]:
            errors.setdefault("policies", []).append("tick at least one policy")
        raw["apply_policies"] = values["policies"]
    elif values["source"] == "direct":
        raw |= limits_of(form, errors)
        if not values["ticked"]:
            errors.setdefault("access_rights", []).append("tick at least one API the key may call")
        raw["access_rights"] = access_rights_of(values["ticked"], apis, {})
    else:
        errors.setdefault("source", []).append("choose: from policies, or with its own limits")
    return raw, values, errors


def _expires(values: dict, now: dt.datetime, errors: dict[str, list[str]]) -> int:
    """Unix seconds of the chosen expiry; 0 for never."""
    if values["expiry"] == "never":
        return 0
    if values["expiry"] != "at":
        errors.setdefault("expiry", []).append("choose never, or a date and time")
        return 0
    for layout in DATETIME_LOCAL:
        try:
            moment = dt.datetime.strptime(values["expires_at"], layout).replace(tzinfo=dt.UTC)
            break
        except ValueError:
            continue
    else:
        errors.setdefault("expires_at", []).append("must be a date and time, YYYY-MM-DDTHH:MM (UTC)")
        return 0
    if moment <= now:
        errors.setdefault("expires_at", []).append("must be in the future")
        return 0
    return int(moment.timestamp())
