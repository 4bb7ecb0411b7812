"""Who may see the console: sign-in by API key cookie, roles, CSRF tokens on every form."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import urlsplit

from tests.helpers.console import html, location, text


def test_not_signed_in_is_sent_to_the_sign_in_page_and_back_after(browser):
    anonymous = browser(None)
    response = anonymous.get("console_worklist", "worklist", params={"state": "Errored"})
    assert location(response) == "/api/console/?next=%2Fapi%2Fconsole%2Fworklist%3Fstate%3DErrored"

    anonymous.csrf = ""  # a first visit: the page hands out the CSRF cookie
    page = anonymous.get("console_home", "", params={"next": "/api/console/worklist?state=Errored"})
    assert page.status_code == 200
    body = html(page)
    assert '<html lang="en">' in body and 'name="key"' in body and 'type="password"' in body
    assert '<label for="key">API key</label>' in body
    assert 'name="next" value="/api/console/worklist?state=Errored"' in body
    assert 'href="#main">Skip to content</a>' in body
    assert any(c.startswith("roster_csrf=") for c in page.headers.getlist("Set-Cookie"))


def test_signing_in_sets_an_httponly_strict_cookie_and_renews_the_csrf_token(browser):
    anonymous = browser(None)
    response = anonymous.post("console_sign_in", "sign-in", {"key": "reader-key", "next": "/api/console/persons"})
    assert location(response).startswith("/api/console/persons?flash=Signed+in+as+apikey%3A")
    cookies = response.headers.getlist("Set-Cookie")
    [key] = [c for c in cookies if c.startswith("roster_session=")]
    value = key.split(";")[0].split("=", 1)[1]
    assert value != hashlib.sha256(b"reader-key").hexdigest() and "reader-key" not in value  # a random session id
    assert len(value) >= 40
    assert "HttpOnly" in key and "SameSite=Strict" in key and "Path=/api/console" in key
    assert "Secure" not in key  # plain http on one machine; https adds it
    [csrf] = [c for c in cookies if c.startswith("roster_csrf=")]
    assert "roster_csrf=test-csrf-token" not in csrf and "HttpOnly" in csrf


def test_signing_in_over_https_marks_the_cookie_secure(browser):
    response = browser(None).post("console_sign_in", "sign-in", {"key": "reader-key"},
                                  headers={"x-forwarded-proto": "https"})
    assert all("; Secure" in c for c in response.headers.getlist("Set-Cookie"))


def test_an_unknown_key_is_refused_in_place(browser):
    response = browser(None).post("console_sign_in", "sign-in", {"key": "guess"})
    assert response.status_code == 401
    body = html(response)
    assert 'aria-describedby="key-help key-error"' in body and 'aria-invalid="true"' in body
    assert '<p class="field-error" id="key-error">This API key is not known.</p>' in body
    assert not any(c.startswith("roster_session=") for c in response.headers.getlist("Set-Cookie"))


def test_next_never_leaves_the_console(browser):
    for target in ("https://evil.example/", "//evil.example/x", "/api/persons", "/api/consoleevil"):
        response = browser(None).post("console_sign_in", "sign-in", {"key": "reader-key", "next": target})
        assert urlsplit(location(response)).path == "/api/console/", target


def test_a_missing_role_gets_a_friendly_403_page(browser):
    response = browser("reader-key").get("console_requests", "requests")
    assert response.status_code == 403
    page = text(response)
    assert "You may not use this page" in page
    assert "This needs the role Requests.Manage." in page
    assert "signed in as apikey:" in page and "with the roles Persons.Read" in page


def test_a_form_without_the_right_csrf_token_is_refused(browser, wiki):
    staff = browser("staff-key")
    wrong = staff.post("console_orders_confirm", "orders/confirm", {"ids": "x.y"}, csrf="forged")
    assert wrong.status_code == 403
    assert "Form refused" in text(wrong)
    staff.csrf = ""  # no cookie: a cross-site form cannot know one
    missing = staff.post("console_orders_confirm", "orders/confirm", {"ids": "x.y"}, csrf="")
    assert missing.status_code == 403
    sign_in = browser(None)
    sign_in.csrf = ""
    assert sign_in.post("console_sign_in", "sign-in", {"key": "reader-key"}, csrf="").status_code == 403


def test_a_form_posted_as_json_is_refused(browser):
    response = browser("staff-key").post("console_orders_confirm", "orders/confirm", {"ids": "x"},
                                         headers={"content-type": "application/json"})
    assert response.status_code == 422


def test_a_key_that_is_no_longer_known_signs_out(browser):
    response = browser("revoked-key").get("console_persons", "persons")
    assert location(response).startswith("/api/console/?next=")
    assert "roster_session=; Path=/api/console; Max-Age=0" in response.headers.getlist("Set-Cookie")[0]
    home = browser("revoked-key").get("console_home", "")
    assert home.status_code == 200 and 'name="key"' in html(home)


def test_signing_out_clears_the_cookie(browser):
    response = browser("reader-key").post("console_sign_out", "sign-out")
    assert location(response) == "/api/console/?flash=Signed+out."
    assert any(c.startswith("roster_session=;") and "Max-Age=0" in c for c in response.headers.getlist("Set-Cookie"))


def test_a_bearer_key_and_app_service_authentication_work_as_for_the_api(browser, rt, monkeypatch):
    anonymous = browser(None)
    page = anonymous.get("console_persons", "persons", headers={"authorization": "Bearer reader-key"})
    assert page.status_code == 200
    claims = {"claims": [{"typ": "roles", "val": "Requests.Manage"}, {"typ": "name", "val": "Dana"}]}
    header = base64.b64encode(json.dumps(claims).encode()).decode()
    monkeypatch.setattr(rt, "settings", rt.settings.__class__(**{**rt.settings.__dict__, "auth_enabled": True}))
    board = anonymous.get("console_requests", "requests", headers={"x-ms-client-principal": header})
    assert board.status_code == 200 and "Signed in as Dana" in text(board)


def test_pages_are_not_cached_and_allow_only_their_own_script(browser):
    response = browser("reader-key").get("console_home", "")
    assert response.headers["Cache-Control"] == "no-store"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'nonce-" in policy and "frame-ancestors 'none'" in policy
    css = browser(None).get("console_stylesheet", "static/console.css")
    assert css.status_code == 200 and css.mimetype == "text/css" and b":focus-visible" in css.get_body()


def test_the_home_page_lists_what_the_roles_allow(browser):
    page = text(browser("desk-key").get("console_home", ""))
    assert "with the roles Requests.Manage" in page
    assert "Needs the role Persons.Read." in page and "The request desk" in page
    flash = browser("desk-key").get("console_home", "", params={"flash": "<b>hi</b>", "flash_kind": "error"})
    assert '<div class="flash flash-error" role="alert">&lt;b&gt;hi&lt;/b&gt;</div>' in html(flash)


def test_every_console_route_is_in_the_openapi_description(functions, rt):
    from tests.helpers.app import http, payload

    doc = payload(functions["ops_openapi"](http("GET", "openapi.json", key="reader-key")))
    console = {path for path in doc["paths"] if path.startswith("/api/console")}
    assert {"/api/console", "/api/console/persons/{id}", "/api/console/worklist", "/api/console/orders/confirm",
            "/api/console/requests/{number}", "/api/console/groups/{id}/preview"} <= console
    assert doc["paths"]["/api/console/persons/{id}"]["get"]["x-roster-role"] == ["Persons.Read", "Suspend.Manage"]
    assert {"/api/console/targets/{id}/reconcile", "/api/console/persons/{id}/suspend", "/api/console/dead-letters"} <= console


def test_the_client_principal_header_is_ignored_without_app_service_authentication(browser):
    header = base64.b64encode(json.dumps({"claims": [{"typ": "roles", "val": "Admin"}]}).encode()).decode()
    response = browser(None).get("console_requests", "requests", headers={"x-ms-client-principal": header})
    assert location(response).startswith("/api/console/?next=")
