"""Settings from the environment (on one machine: local.settings.json `Values`)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.outbound import OutboundPolicy, OutboundRefused, check_url

QUEUE_SETTINGS = {
    "person-update": "PersonUpdateQueue",
    "person-changed": "PersonChangedQueue",
    "group-update": "GroupUpdateQueue",
    "provisioning-order": "ProvisioningOrderQueue",
    "notification": "NotificationQueue",
    "group-reevaluation": "GroupReevaluationQueue",
    "ticket-mirror": "TicketMirrorQueue",
}


MATCH_POLICIES = ("auto", "review", "never")
DEFAULT_MATCH_POLICY = "review"
MAX_MESSAGE_BYTES = 256 * 1024  # Service Bus Standard tier


def secret_setting(env, name: str) -> str | None:
    """A secret's value, or None when unset — or when Azure left a Key Vault reference
    unresolved (the secret not set yet): the reference text itself is never a secret."""
    value = env.get(name) or None
    return None if value is None or value.startswith("@Microsoft.KeyVault(") else value


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


KEYS_FORMAT = 'ROSTER_API_KEYS must be {"<key>": ["Role", ...]} or {"<key>": {"name": "Holly", "roles": [...]}}'


def key_digest(key: str) -> str:
    """What is kept of an API key instead of the key itself (a browser's sign-in cookie)."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_actor(key: str) -> str:
    """How a key's holder is recorded as an actor: `apikey:` and the digest's first 8 digits."""
    return f"apikey:{key_digest(key)[:8]}"


def parse_api_keys(text: str) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Roles and display names per key. A key maps to its roles, or to `{name, roles}`."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"ROSTER_API_KEYS is not JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise SettingsError(KEYS_FORMAT)
    roles, names = {}, {}
    for key, value in data.items():
        if isinstance(value, dict) and set(value) <= {"name", "roles"}:
            name, value = value.get("name"), value.get("roles", [])
            if name is not None:
                if not isinstance(name, str) or not name.strip() or len(name) > 200:
                    raise SettingsError("ROSTER_API_KEYS: the name of a key must be text of 1 to 200 characters")
                names[key] = name.strip()
        if not (isinstance(value, list) and all(isinstance(r, str) for r in value)):
            raise SettingsError(KEYS_FORMAT)
        roles[key] = value
    return roles, names


@dataclass(frozen=True)
class Settings:
    store: str = "sqlite:///.roster/roster.db"
    bus: str = "local"
    bus_path: str = ".roster/bus.db"
    mail: str = "outbox"
    chain: str = "sync"
    api_keys: dict[str, list[str]] = field(default_factory=dict)
    key_names: dict[str, str] = field(default_factory=dict)  # key → the display name of who holds it
    staff_email: str = "identity-desk@example.edu"
    mail_from: str = "roster@example.edu"
    teams_webhook: str | None = None
    public_url: str = "http://127.0.0.1:7071"
    timezone: str = "UTC"
    servicebus_namespace: str | None = None
    servicebus_connection: str | None = None
    sendgrid_api_key: str | None = None
    auth_enabled: bool = False
    national_id_key: str | None = None
    match_policies: dict[str, str] = field(default_factory=dict)
    bulk_upload_rate: tuple[int, int] = (40, 5)
    sweep_batch: int = 200  # persons the self-healing sweep checks per run (docs/architecture.md §10)
    queues: dict[str, str] = field(default_factory=lambda: dict((q, q) for q in QUEUE_SETTINGS))
    outbound: OutboundPolicy = field(default_factory=OutboundPolicy)
    as_of_max_skew: timedelta = timedelta(minutes=5)
    console_idle: timedelta = timedelta(minutes=30)
    console_session_max: timedelta = timedelta(hours=8)
    max_message_bytes: int = MAX_MESSAGE_BYTES  # an HTTP body and a bus message alike
    circuit_failures: int = 5  # transient faults in a row that pause a target
    circuit_cooldown_seconds: int = 60  # how long a paused target waits before a probe
    bulk_workers: int = 1  # processes computing a bulk load's chunks (embedded store only; 1: in-process)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def display_name(self, actor: str, unnamed: str | None = None) -> str:
        """Who an audit record's actor is, in words: a key's display name (ROSTER_API_KEYS),
        an Entra principal's name; other actors (`roster`, a connector) as they are. A key
        without a name is `unnamed` when given (what outsiders read), else its actor id."""
        if actor.startswith("apikey:"):
            names = {key_actor(key): name for key, name in self.key_names.items()}
            return names.get(actor, unnamed or actor)
        return actor.removeprefix("entra:")

    def match_policy(self, source: str) -> str:
        """What registration does with a match for `source`'s new records (docs/matching.md)."""
        return self.match_policies.get(source) or self.match_policies.get("*") or DEFAULT_MATCH_POLICY

    def queue(self, name: str) -> str:
        """The configured name of a logical queue of docs/architecture.md §4."""
        return self.queues[name]

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        api_keys, key_names = parse_api_keys(env.get("ROSTER_API_KEYS", "") or "{}")
        chain = _chain(env)
        timezone = _timezone(env)
        outbound = _outbound(env)
        skew = _whole(env, "ROSTER_AS_OF_MAX_SKEW_SECONDS", 300, 0, 86_400)
        idle = _whole(env, "ROSTER_CONSOLE_IDLE_MINUTES", 30, 1, 1440)
        session_max = _whole(env, "ROSTER_CONSOLE_SESSION_HOURS", 8, 1, 168)
        return cls(
            national_id_key=secret_setting(env, "ROSTER_NATIONAL_ID_KEY"),
            match_policies=_match_policies(env.get("ROSTER_MATCH_POLICY", "")),
            bulk_upload_rate=_rate(env.get("ROSTER_BULKUPLOAD_RATE") or "40/5"),
            max_message_bytes=_whole(env, "ROSTER_MAX_MESSAGE_BYTES", MAX_MESSAGE_BYTES, 1024, 100 * 1024 * 1024),
            circuit_failures=_whole(env, "ROSTER_CIRCUIT_FAILURES", 5, 1, 1000),
            circuit_cooldown_seconds=_whole(env, "ROSTER_CIRCUIT_COOLDOWN_SECONDS", 60, 1, 86400),
            bulk_workers=_whole(env, "ROSTER_BULK_WORKERS", 1, 1, 16),
            store=env.get("ROSTER_STORE") or cls.store,
            bus=env.get("ROSTER_BUS") or "local",
            bus_path=env.get("ROSTER_BUS_PATH") or cls.bus_path,
            mail=env.get("ROSTER_MAIL") or "outbox",
            chain=chain,
            api_keys=api_keys,
            key_names=key_names,
            staff_email=env.get("ROSTER_STAFF_EMAIL") or cls.staff_email,
            mail_from=env.get("ROSTER_MAIL_FROM") or cls.mail_from,
            teams_webhook=secret_setting(env, "ROSTER_TEAMS_WEBHOOK"),
            public_url=(env.get("ROSTER_PUBLIC_URL") or cls.public_url).rstrip("/"),
            timezone=timezone,
            servicebus_namespace=env.get("ServiceBusConnection__fullyQualifiedNamespace") or None,
            servicebus_connection=env.get("ServiceBusConnection") or None,
            sendgrid_api_key=secret_setting(env, "SENDGRID_API_KEY"),
            auth_enabled=env.get("WEBSITE_AUTH_ENABLED", "").lower() == "true",
            sweep_batch=_whole(env, "ROSTER_SWEEP_BATCH", 200, 1, 100_000),
            queues={q: env.get(setting) or q for q, setting in QUEUE_SETTINGS.items()},
            outbound=outbound,
            as_of_max_skew=timedelta(seconds=skew),
            console_idle=timedelta(minutes=idle),
            console_session_max=timedelta(hours=session_max),
        )


def _chain(env: dict[str, str]) -> str:
    """ROSTER_CHAIN: `sync` (default) or `async`."""
    chain = env.get("ROSTER_CHAIN", "sync")
    if chain not in ("sync", "async"):
        raise SettingsError("ROSTER_CHAIN must be sync or async")
    return chain


def _timezone(env: dict[str, str]) -> str:
    """ROSTER_TIMEZONE: an IANA time zone (default UTC)."""
    timezone = env.get("ROSTER_TIMEZONE", "UTC") or "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"ROSTER_TIMEZONE is not an IANA time zone: {timezone!r}") from None
    return timezone


def _outbound(env: Mapping[str, str]) -> OutboundPolicy:
    """The outbound policy, with the Teams webhook checked against it (the address, when
    it is a literal: the name is resolved and checked again at every post)."""
    try:
        policy = OutboundPolicy.from_env(env)
        teams = secret_setting(env, "ROSTER_TEAMS_WEBHOOK")  # an unresolved Key Vault reference is unset
        if teams:
            check_url(teams, "ROSTER_TEAMS_WEBHOOK", policy, resolve=lambda host, port: [])
    except OutboundRefused as refused:
        raise SettingsError(refused.detail) from None
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    return policy


def _match_policies(raw: str) -> dict[str, str]:
    """ROSTER_MATCH_POLICY: {"<source>": "auto" | "review" | "never", "*": <the rest>}."""
    try:
        policies = json.loads(raw or "{}")
    except json.JSONDecodeError as exc:
        raise SettingsError(f"ROSTER_MATCH_POLICY is not JSON: {exc.msg}") from None
    if not isinstance(policies, dict) or not all(
        isinstance(k, str) and v in MATCH_POLICIES for k, v in policies.items()
    ):
        raise SettingsError('ROSTER_MATCH_POLICY must be {"<source>": "auto" | "review" | "never", "*": ...}')
    return policies


def _whole(env: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole-number setting from `low` to `high`; unset or empty means `default`."""
    value = (env.get(name) or "").strip()
    if not value:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise SettingsError(f"{name} must be a whole number from {low} to {high}, not {value!r}")
    return int(value)


def _rate(text: str) -> tuple[int, int]:
    """`calls/seconds`, e.g. `40/5` (Entra's own quota for bulkUpload)."""
    calls, _, seconds = text.partition("/")
    if not (calls.strip().isdigit() and seconds.strip().isdigit() and int(calls) > 0 and int(seconds) > 0):
        raise SettingsError(f"ROSTER_BULKUPLOAD_RATE must be calls/seconds, e.g. 40/5, not {text!r}")
    return int(calls), int(seconds)
