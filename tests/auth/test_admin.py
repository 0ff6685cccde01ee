"""Admin-only user management, and that ordinary users are refused."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.factories import Factory

ADMIN_ROUTES = [
    ("GET", "/api/v1/users"),
    ("GET", "/api/v1/users/{id}"),
    ("PATCH", "/api/v1/users/{id}"),
    ("POST", "/api/v1/users/{id}/deactivate"),
    ("POST", "/api/v1/users/{id}/activate"),
    ("DELETE", "/api/v1/users/{id}"),
    ("GET", "/api/v1/system/stats"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_admin_routes_refuse_users_and_anonymous(
    client: TestClient, factory: Factory, method: str, path: str
) -> None:
    user = factory.user()
    other = factory.user()
    url = path.format(id=other.id)
    body = {"role": "admin"} if method == "PATCH" else None
    as_user = client.request(method, url, json=body, headers=factory.headers(user))
    assert as_user.status_code == 403
    assert as_user.json()["error"]["code"] == "permission_denied"
    anonymous = client.request(method, url, json=body)
    assert anonymous.status_code == 401
    factory.session.refresh(other)
    assert other.role == "user" and other.is_active


def test_admin_lists_filters_and_pages_users(client: TestClient, factory: Factory) -> None:
    admin = factory.admin(email="root@example.com")
    for i in range(5):
        factory.user(email=f"member{i}@example.com", full_name=f"Member {i}")
    factory.user(email="dormant@example.com", is_active=False)
    headers = factory.headers(admin)

    page = client.get("/api/v1/users", params={"limit": 2, "offset": 0}, headers=headers).json()
    assert page["total"] == 7 and len(page["items"]) == 2
    members = client.get("/api/v1/users", params={"q": "member"}, headers=headers).json()
    assert members["total"] == 5
    inactive = client.get("/api/v1/users", params={"is_active": False}, headers=headers).json()
    assert [u["email"] for u in inactive["items"]] == ["dormant@example.com"]
    admins = client.get("/api/v1/users", params={"role": "admin"}, headers=headers).json()
    assert [u["email"] for u in admins["items"]] == ["root@example.com"]


def test_admin_changes_role_and_the_new_admin_gains_access(
    client: TestClient, factory: Factory
) -> None:
    admin = factory.admin()
    user = factory.user()
    assert client.get("/api/v1/users", headers=factory.headers(user)).status_code == 403
    promoted = client.patch(
        f"/api/v1/users/{user.id}", json={"role": "admin"}, headers=factory.headers(admin)
    )
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    assert client.get("/api/v1/users", headers=factory.headers(user)).status_code == 200


def test_admin_cannot_demote_deactivate_or_delete_self(
    client: TestClient, factory: Factory
) -> None:
    admin = factory.admin()
    headers = factory.headers(admin)
    assert (
        client.patch(
            f"/api/v1/users/{admin.id}", json={"role": "user"}, headers=headers
        ).status_code
        == 400
    )
    assert client.post(f"/api/v1/users/{admin.id}/deactivate", headers=headers).status_code == 400
    assert client.delete(f"/api/v1/users/{admin.id}", headers=headers).status_code == 400
    assert client.get("/api/v1/users/me", headers=headers).json()["role"] == "admin"


def test_admin_deletes_user(client: TestClient, factory: Factory) -> None:
    admin = factory.admin()
    user = factory.user()
    headers = factory.headers(admin)
    assert client.delete(f"/api/v1/users/{user.id}", headers=headers).status_code == 204
    missing = client.get(f"/api/v1/users/{user.id}", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_reactivated_user_can_log_in_again(client: TestClient, factory: Factory) -> None:
    admin = factory.admin()
    user = factory.user(is_active=False)
    credentials = {"email": user.email, "password": "correct-horse-battery"}
    assert client.post("/api/v1/auth/login", json=credentials).status_code == 401
    client.post(f"/api/v1/users/{user.id}/activate", headers=factory.headers(admin))
    assert client.post("/api/v1/auth/login", json=credentials).status_code == 200


def test_an_undeclared_method_on_users_me_is_405_not_an_id(
    client: TestClient, factory: Factory
) -> None:
    headers = factory.headers(factory.admin())
    for method in ("DELETE", "POST"):
        response = client.request(method, "/api/v1/users/me", headers=headers)
        assert response.status_code == 405, response.text
        assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "PATCH"}
    assert client.post("/api/v1/users/me/activate", headers=headers).status_code == 404
