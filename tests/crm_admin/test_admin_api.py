"""The admin API for CRM connections: auth, tenant isolation, CRUD, test, rotate, disable."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.crm.fakes.freshdesk import FreshdeskFake

A = {"X-Admin-Key": "admin-a", "X-Admin-Actor": "alice@a.example"}
B = {"X-Admin-Key": "admin-b"}
SECRET = "fd-api-key"


def freshdesk_config(base_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "settingsId": "fd",
        "kind": "freshdesk",
        "displayName": "Freshdesk",
        "baseUrl": base_url,
        "auth": {"type": "api_key"},
        "secret": SECRET,
        **extra,
    }


async def test_every_route_needs_an_admin_key(admin: TestClient[Any, Any]):
    for method, path in [
        ("GET", "/api/admin/crms"),
        ("POST", "/api/admin/crms"),
        ("GET", "/api/admin/crms/fd"),
        ("PATCH", "/api/admin/crms/fd"),
        ("DELETE", "/api/admin/crms/fd"),
        ("POST", "/api/admin/crms/fd/test"),
        ("POST", "/api/admin/crms/fd/rotate-secret"),
        ("POST", "/api/admin/crms/fd/disable"),
        ("GET", "/api/admin/audit"),
    ]:
        for headers in ({}, {"X-Admin-Key": "wrong"}, {"X-Api-Key": "api-a"}):
            response = await admin.request(method, path, headers=headers, json={})
            assert response.status == 401, (method, path, headers)


async def test_crud_with_tenant_isolation_and_no_secret_in_output(
    admin: TestClient[Any, Any], freshdesk: tuple[FreshdeskFake, str]
):
    _, url = freshdesk
    created = await admin.post("/api/admin/crms", json=freshdesk_config(url), headers=A)
    assert created.status == 201, await created.text()
    body = await created.json()
    assert body["settingsId"] == "fd" and body["tenantId"] == "tenant-a"
    assert body["hasSecret"] is True and body["version"] == 1
    assert body["updatedBy"] == "admin-key:tenant-a:alice@a.example"

    listed = await (await admin.get("/api/admin/crms", headers=A)).json()
    assert [c["settingsId"] for c in listed["crms"]] == ["fd"]
    assert (await (await admin.get("/api/admin/crms", headers=B)).json()) == {"crms": []}
    assert (await admin.get("/api/admin/crms/fd", headers=B)).status == 404
    assert (await admin.patch("/api/admin/crms/fd", json={}, headers=B)).status == 404
    assert (await admin.delete("/api/admin/crms/fd", headers=B)).status == 404
    assert (await admin.post("/api/admin/crms/fd/disable", headers=B)).status == 404

    patched = await admin.patch(
        "/api/admin/crms/fd", json={"displayName": "Freshdesk EU"}, headers=A
    )
    assert patched.status == 200 and (await patched.json())["version"] == 2
    rotated = await admin.post(
        "/api/admin/crms/fd/rotate-secret", json={"secret": "n3w-key"}, headers=A
    )
    assert rotated.status == 200 and (await rotated.json())["version"] == 3
    disabled = await admin.post("/api/admin/crms/fd/disable", headers=A)
    assert (await disabled.json())["enabled"] is False

    audit = await (await admin.get("/api/admin/audit?kind=crm", headers=A)).json()
    assert [(e["kind"], e["door"], e["target"]) for e in audit["entries"]] == [
        ("crm.create", "api", "fd"),
        ("crm.update", "api", "fd"),
        ("crm.rotateSecret", "api", "fd"),
        ("crm.disable", "api", "fd"),
    ]
    assert (await (await admin.get("/api/admin/audit", headers=B)).json())["entries"] == []

    everything = "".join(
        [
            str(body),
            str(listed),
            str(await patched.json()),
            str(await rotated.json()),
            str(audit),
            await (await admin.get("/api/admin/crms/fd", headers=A)).text(),
        ]
    )
    assert SECRET not in everything and "n3w-key" not in everything

    assert (await admin.delete("/api/admin/crms/fd", headers=A)).status == 204
    assert (await admin.get("/api/admin/crms/fd", headers=A)).status == 404


async def test_validation_errors_name_the_fields(admin: TestClient[Any, Any]):
    response = await admin.post(
        "/api/admin/crms",
        json={"settingsId": "no spaces!", "kind": "nope", "displayName": "x"},
        headers=A,
    )
    assert response.status == 422
    details = (await response.json())["errors"]
    assert {d["loc"][0] for d in details} >= {"settingsId", "kind"}
    not_json = await admin.post(
        "/api/admin/crms", data=b"{", headers={"Content-Type": "application/json", **A}
    )
    assert not_json.status == 400
    other_tenant = await admin.post(
        "/api/admin/crms",
        json={"settingsId": "x", "kind": "demo", "displayName": "x", "tenantId": "tenant-b"},
        headers=A,
    )
    assert other_tenant.status == 422
    await admin.post(
        "/api/admin/crms",
        json={"settingsId": "d", "kind": "demo", "displayName": "Demo"},
        headers=A,
    )
    again = await admin.post(
        "/api/admin/crms",
        json={"settingsId": "d", "kind": "demo", "displayName": "Demo"},
        headers=A,
    )
    assert again.status == 409
    bad_patch = await admin.patch(
        "/api/admin/crms/d", json={"maxConcurrency": 0, "secret": "x"}, headers=A
    )
    assert bad_patch.status == 422
    empty = await admin.post("/api/admin/crms/d/rotate-secret", json={}, headers=A)
    assert empty.status == 422
    assert (await empty.json())["errors"][0]["loc"] == ["secret"]


async def test_connection_test_reports_typed_outcomes(
    admin: TestClient[Any, Any], freshdesk: tuple[FreshdeskFake, str]
):
    fake, url = freshdesk
    await admin.post("/api/admin/crms", json=freshdesk_config(url), headers=A)
    ok = await (await admin.post("/api/admin/crms/fd/test", headers=A)).json()
    assert ok["ok"] is True and ok["outcome"] == "ok", ok
    assert fake.requests and all(r.method == "GET" for r in fake.requests)  # harmless

    await admin.post("/api/admin/crms/fd/rotate-secret", json={"secret": "wrong"}, headers=A)
    refused = await (await admin.post("/api/admin/crms/fd/test", headers=A)).json()
    assert refused["ok"] is False and refused["outcome"] == "auth_failed", refused
    assert "wrong" not in str(refused)

    dead = freshdesk_config("http://127.0.0.1:9", settingsId="dead")
    await admin.post("/api/admin/crms", json={**dead, "requestTimeout": 0.5}, headers=A)
    unreachable = await (await admin.post("/api/admin/crms/dead/test", headers=A)).json()
    assert unreachable["ok"] is False
    assert unreachable["outcome"] in ("unavailable", "timeout"), unreachable


async def test_connection_test_says_when_the_address_is_wrong(
    admin: TestClient[Any, Any], freshdesk: tuple[FreshdeskFake, str]
):
    """A host that refuses connections, or a path where the CRM's API is not, is the
    admin's typo: the test says to check the address, not that the CRM is retrying."""
    _, url = freshdesk
    refused = freshdesk_config("http://127.0.0.1:9", settingsId="refused")
    await admin.post("/api/admin/crms", json=refused, headers=A)
    unreachable = await (await admin.post("/api/admin/crms/refused/test", headers=A)).json()
    assert unreachable["outcome"] == "unavailable", unreachable
    assert "cannot be reached" in unreachable["message"], unreachable
    assert "127.0.0.1" in unreachable["message"] and "retrying" not in unreachable["message"]

    wrong_path = freshdesk_config(f"{url}/not-the-api", settingsId="path")
    await admin.post("/api/admin/crms", json=wrong_path, headers=A)
    missing = await (await admin.post("/api/admin/crms/path/test", headers=A)).json()
    assert missing["ok"] is False, missing
    assert "check its address" in missing["message"], missing
    assert "no such record" not in missing["message"], missing


async def test_connection_test_of_a_rest_crm_without_its_probe_template_fails_clearly(
    admin: TestClient[Any, Any],
):
    config = {
        "settingsId": "r",
        "kind": "rest",
        "displayName": "Intranet CRM",
        "baseUrl": "http://127.0.0.1:9",
        "rest": {"phoneSearch": "/people?phone={value}"},
    }
    assert (await admin.post("/api/admin/crms", json=config, headers=A)).status == 201
    answer = await (await admin.post("/api/admin/crms/r/test", headers=A)).json()
    assert answer["ok"] is False and answer["outcome"] == "not_supported", answer
    assert "no email search template" in answer["message"]


async def test_put_creates_then_wholly_replaces_a_crm(
    admin: TestClient[Any, Any], freshdesk: tuple[FreshdeskFake, str]
):
    _, url = freshdesk
    body = freshdesk_config(url, maxConcurrency=3)
    created = await admin.put("/api/admin/crms/fd", json=body, headers=A)
    assert created.status == 201, await created.text()
    assert (await created.json())["maxConcurrency"] == 3
    without = {k: v for k, v in body.items() if k not in ("secret", "maxConcurrency")}
    replaced = await admin.put(
        "/api/admin/crms/fd", json={**without, "displayName": "Freshdesk EU"}, headers=A
    )
    assert replaced.status == 200, await replaced.text()
    after = await replaced.json()
    assert after["displayName"] == "Freshdesk EU" and after["version"] == 2
    assert after["maxConcurrency"] == 8  # left out: back to its default, as PUT means
    assert after["hasSecret"] is True  # the secret stays where the CRM stays
    moved = await admin.put(
        "/api/admin/crms/fd", json={**without, "baseUrl": url + "/v2"}, headers=A
    )
    assert moved.status == 422
    assert (await moved.json())["errors"][0]["loc"] == ["secret"]
    other = await admin.put("/api/admin/crms/fd", json={**body, "settingsId": "x"}, headers=A)
    assert other.status == 422


async def test_preview_shows_the_records_a_connection_finds(
    admin: TestClient[Any, Any], freshdesk: tuple[FreshdeskFake, str]
):
    _, url = freshdesk
    await admin.post("/api/admin/crms", json=freshdesk_config(url), headers=A)
    preview = "/api/admin/crms/fd/preview"
    missing = await admin.post(preview, json={}, headers=A)
    assert missing.status == 422 and (await missing.json())["errors"][0]["loc"] == ["phone"]
    unreadable = await admin.post(preview, json={"phone": "call me"}, headers=A)
    assert unreadable.status == 422
    assert (await unreadable.json())["errors"][0]["loc"] == ["phone"]
    nobody = await admin.post(preview, json={"email": "nobody@crmcard.invalid"}, headers=A)
    assert (nobody.status, await nobody.json()) == (200, {"records": []})
    jane = await (await admin.post(preview, json={"email": "jane@example.com"}, headers=A)).json()
    assert [r["title"] for r in jane["records"]] == ["Jane Doe"]
    assert jane["records"][0]["key"].startswith("fd:")
    await admin.post("/api/admin/crms/fd/disable", headers=A)
    assert (await admin.post(preview, json={"email": "a@b.example"}, headers=A)).status == 404
    assert (await admin.post(preview, json={"email": "a@b.example"}, headers=B)).status == 404
