"""A tiny Functions app for the devhost tests: HTTP routes, a queue trigger and a timer.

It reads its record files from settings (local.settings.json Values), as Roster does.
"""

from __future__ import annotations

import json
import os

import azure.functions as func

# FUNCTION auth level: keys are not checked locally, like the Core Tools.
SOMEONE = "jane.doe@example.edu"  # personal data in an exception message must not be logged

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


def _json(value: object, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(value), status_code=status, mimetype="application/json")


def _record(setting: str, entry: dict) -> None:
    with open(os.environ[setting], "a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")


@app.route(route="things/{id}", methods=["GET"])
def get_thing(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"id": req.route_params["id"], "q": req.params.get("q"), "url": req.url})


@app.route(route="things/special", methods=["GET"])
def special_thing(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"special": True})


@app.route(methods=["POST"])  # no route: served at /api/echo_length
def echo_length(req: func.HttpRequest) -> func.HttpResponse:
    return _json(
        {"length": len(req.get_body()), "content_type": req.headers.get("content-type")}, 201
    )


@app.route(route="items/{n:int}", methods=["GET", "PUT"])
def get_item(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"n": int(req.route_params["n"]), "method": req.method})


@app.route(route="files/{*path}")
def files(req: func.HttpRequest) -> func.HttpResponse:
    return _json({"path": req.route_params.get("path")})


@app.route(route="greet/{name:alpha}", methods=["GET"])
async def greet(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"hello {req.route_params['name']}")


@app.route(route="setting", methods=["GET"])
def setting(req: func.HttpRequest) -> str:
    return os.environ.get("SAMPLE_GREETING", "unset")


@app.route(route="headers", methods=["GET"])
def headers(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        b"",
        status_code=204,
        headers={"X-Sample": "yes", "Cache-Control": "no-store"},
    )


@app.route(route="fail", methods=["GET"])
def fail(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError(f"no account for {SOMEONE}")


@app.service_bus_queue_trigger(
    arg_name="msg", queue_name="%SampleQueue%", connection="ServiceBusConnection"
)
def on_sample(msg: func.ServiceBusMessage) -> None:
    body = msg.get_body()
    _record(
        "SAMPLE_RECORD",
        {
            "body": body.decode(),
            "message_id": msg.message_id,
            "session_id": msg.session_id,
            "delivery_count": msg.delivery_count,
        },
    )
    if body == b"boom":
        raise RuntimeError("boom")


@app.service_bus_queue_trigger(
    arg_name="msgs", queue_name="%SampleBatchQueue%", connection="ServiceBusConnection",
    is_sessions_enabled=True, cardinality="many",
)
def on_sample_batch(msgs: list[func.ServiceBusMessage]) -> None:
    _record("SAMPLE_BATCHES", {"ids": [m.message_id for m in msgs], "sessions": [m.session_id for m in msgs],
                               "deliveries": [m.delivery_count for m in msgs]})
    if any(m.get_body() == b"boom" for m in msgs) and msgs[0].delivery_count == 1:
        raise RuntimeError("boom")


@app.timer_trigger(schedule="* * * * * *", arg_name="timer")
def tick(timer: func.TimerRequest) -> None:
    _record("SAMPLE_TICKS", {"past_due": timer.past_due})
