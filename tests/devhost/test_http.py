"""HTTP triggers through real HTTP: routes, parameters, methods, constraints, failures."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from devhost import Host
from tests.devhost.hosts import make_host


@pytest.fixture(scope="module")
def client(http_host: Host):
    with httpx.Client(base_url=f"{http_host.url}/api", timeout=10) as c:
        yield c


def test_route_parameters_and_query(client: httpx.Client) -> None:
    r = client.get("/things/42", params={"q": "x"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert (body["id"], body["q"]) == ("42", "x")
    assert body["url"].endswith("/api/things/42?q=x")


def test_repeated_query_names_are_joined(client: httpx.Client) -> None:
    assert client.get("/things/1?q=a&q=b").json()["q"] == "a,b"


def test_encoded_segment_is_one_decoded_value(client: httpx.Client) -> None:
    assert client.get("/things/a%2Fb%20c").json()["id"] == "a/b c"


def test_literal_route_wins_over_parameter(client: httpx.Client) -> None:
    assert client.get("/things/special").json() == {"special": True}
    assert client.get("/THINGS/Special").json() == {"special": True}


def test_route_none_uses_the_function_name_and_body_passes_through(client: httpx.Client) -> None:
    r = client.post("/echo_length", content=b"x" * 1000, headers={"content-type": "text/plain"})
    assert r.status_code == 201
    assert r.json() == {"length": 1000, "content_type": "text/plain"}


def test_wrong_method_is_405_with_allow(client: httpx.Client) -> None:
    r = client.post("/things/42", content=b"{}")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET"
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 405


def test_unknown_path_is_404_problem(client: httpx.Client, http_host: Host) -> None:
    for path in ("/nothing", "/things/1/2", "/things"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["title"] == "Not Found"
    assert httpx.get(f"{http_host.url}/things/1").status_code == 404  # outside /api


def test_int_constraint(client: httpx.Client) -> None:
    assert client.get("/items/7").json() == {"n": 7, "method": "GET"}
    assert client.put("/items/7").json() == {"n": 7, "method": "PUT"}
    assert client.get("/items/seven").status_code == 404  # constraint mismatch: no route
    assert client.delete("/items/7").status_code == 405


def test_catch_all_and_any_method(client: httpx.Client) -> None:
    assert client.get("/files/a/b/c.txt").json() == {"path": "a/b/c.txt"}
    assert client.delete("/files/x").json() == {"path": "x"}
    assert client.get("/files").json() == {"path": None}


def test_async_function_and_str_body(client: httpx.Client) -> None:
    r = client.get("/greet/Ada")
    assert (r.status_code, r.text) == (200, "hello Ada")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert client.get("/greet/Ada1").status_code == 404  # alpha


def test_function_returning_str(client: httpx.Client) -> None:
    r = client.get("/setting")
    assert (r.status_code, r.text) == (200, "from the settings file")


def test_response_headers_and_no_content(client: httpx.Client) -> None:
    r = client.get("/headers")
    assert r.status_code == 204
    assert r.headers["x-sample"] == "yes"
    assert r.headers["cache-control"] == "no-store"
    assert r.content == b""


def test_exception_is_500_problem_without_internals(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="devhost"):
        r = client.get("/fail")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert "secret" not in r.text and "RuntimeError" not in r.text
    logged = "\n".join(rec.getMessage() for rec in caplog.records if rec.levelno >= logging.INFO)
    assert "Functions.fail" in logged and "RuntimeError" in logged and "sample_app.py" in logged
    assert "jane.doe" not in logged  # the message (personal data) only at DEBUG


def test_request_paths_and_queries_stay_out_of_the_log(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        client.get("/things/person-123", params={"q": "Jane Doe"})
    text = "\n".join(
        rec.getMessage() for rec in caplog.records if rec.name.startswith(("devhost", "uvicorn"))
    )
    assert "/api/things/{id}" in text
    assert "person-123" not in text and "Jane" not in text


def test_body_over_the_limit_is_413(tmp_path: Path) -> None:
    with make_host(tmp_path, max_body=10) as host:
        r = httpx.post(f"{host.url}/api/echo_length", content=b"x" * 11)
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"
        assert httpx.post(f"{host.url}/api/echo_length", content=b"x" * 10).json()["length"] == 10


def test_route_prefix_comes_from_host_json(tmp_path: Path) -> None:
    host_json = tmp_path / "host.json"
    host_json.write_text(
        json.dumps({"version": "2.0", "extensions": {"http": {"routePrefix": ""}}})
    )
    host = make_host(tmp_path)
    host.host_json = host_json
    with host:
        assert httpx.get(f"{host.url}/things/1").json()["id"] == "1"
        assert httpx.get(f"{host.url}/api/things/1").status_code == 404
