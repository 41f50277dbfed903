"""The Reloader with policies: loaded with the APIs, swapped with them, bad ones rejected, sources failing."""

from __future__ import annotations

import asyncio
import json

from tollhouse.gateway.loader import DirectorySource
from tollhouse.gateway.policies import PolicyTable, compile_policies
from tollhouse.gateway.reload import Reloader


def api(api_id: str, **extra) -> dict:
    return {"api_id": api_id, "name": api_id, "use_keyless": True,
            "proxy": {"listen_path": f"/{api_id}/", "target_url": "http://127.0.0.1:9/"}, **extra}


class Target:
    """What the gateway app holds; records each swap."""

    def __init__(self):
        self.router = None
        self.policies = PolicyTable()
        self.swaps = []

    def swap_router(self, router):
        self.router = router
        self.swaps.append("router")

    def swap_policies(self, policies):
        self.policies = policies
        self.swaps.append("policies")


def setup(tmp_path, prepare=lambda api: None):
    apps, policies = tmp_path / "apps", tmp_path / "policies"
    apps.mkdir()
    policies.mkdir()
    target = Target()
    reloader = Reloader(DirectorySource(apps), prepare, target.swap_router, 0,
                        policy_source=DirectorySource(policies, "policy_path", "policy"),
                        swap_policies=target.swap_policies)
    return apps, policies, target, reloader


def write(directory, name, document):
    (directory / f"{name}.json").write_text(json.dumps(document))


def test_policies_load_and_swap_with_the_apis(tmp_path):
    apps, policies, target, reloader = setup(tmp_path)
    write(apps, "orders", api("orders"))
    write(policies, "gold", {"id": "gold", "rate": 10, "per": 1})
    assert asyncio.run(reloader.reload_now())
    assert target.swaps == ["router", "policies"]
    assert list(target.policies.policies) == ["gold"]
    assert [a.api_id for a in target.router.apis] == ["orders"]


def test_an_invalid_policy_is_rejected_and_its_previous_version_stays(tmp_path, caplog):
    _, policies, target, reloader = setup(tmp_path)
    write(policies, "gold", {"id": "gold", "rate": 10, "per": 1})

    async def twice():
        await reloader.reload_now()
        write(policies, "gold", {"id": "gold", "rate": -5})
        write(policies, "new", {"id": "new", "per": "often"})
        return await reloader.reload_now()

    assert asyncio.run(twice())
    assert target.policies.policies["gold"].rate == 10
    assert "new" not in target.policies.policies
    assert reloader.health.rejected_policies == 2
    assert "rejected policy gold: rate: Input should be greater than or equal to 0 (its previous version stays" \
        in caplog.text
    assert "rejected policy new: per: Input should be a valid number" in caplog.text


def test_a_failing_policy_source_changes_nothing(tmp_path):
    apps, policies, target, reloader = setup(tmp_path)
    write(apps, "orders", api("orders"))
    write(policies, "gold", {"id": "gold"})

    async def run():
        await reloader.reload_now()
        write(apps, "billing", api("billing"))
        policies.joinpath("gold.json").unlink()
        policies.rmdir()
        return await reloader.reload_now()

    assert not asyncio.run(run())
    assert [a.api_id for a in target.router.apis] == ["orders"]
    assert list(target.policies.policies) == ["gold"]
    assert reloader.health.last_error == f"policy_path {policies} is not a directory"


def test_an_api_whose_pipeline_cannot_be_built_is_rejected_and_keeps_its_previous_version(tmp_path):
    def prepare(compiled):
        if compiled.definition.tags == ["broken"]:
            raise ValueError("authentication kind 'jwt' is not available")

    apps, _, target, reloader = setup(tmp_path, prepare)
    write(apps, "orders", api("orders"))

    async def run():
        await reloader.reload_now()
        write(apps, "orders", api("orders", tags=["broken"]))
        write(apps, "fresh", api("fresh", tags=["broken"]))
        return await reloader.reload_now()

    assert asyncio.run(run())
    assert [(a.api_id, a.definition.tags) for a in target.router.apis] == [("orders", [])]
    assert reloader.health.rejected == 2


def test_compile_policies_refuses_a_second_policy_with_the_same_id():
    report = compile_policies([{"id": "a", "rate": 1}, {"_id": "a", "rate": 2}, "junk"], {})
    assert report.policies["a"].rate == 1
    assert report.rejected == {"a (#1)": "id: a is used by an earlier policy",
                               "policy #2": "(policy): must be a JSON object"}
