"""The settings an `entra` or `ldap` target carries, checked when the target is saved
(docs/targets.md), and the entitlements each connector understands.

Secrets never live in settings: a setting ending in `_env` names an environment variable
`ROSTER_TARGET_SECRET_*` that holds it. Outbound addresses are checked by `outbound_url`:
https (or ldaps / StartTLS) everywhere, plain http or ldap only to this machine's loopback
and only with `ROSTER_ALLOW_LOOPBACK=true`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from ldap3.core.exceptions import LDAPInvalidDnError
from ldap3.utils.dn import parse_dn
from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.models.account_template import DEFAULT_TEMPLATE, template_problem
from shared.models.base import Model
from shared.models.person import AffiliationType
from shared.outbound import current_policy, scheme_refusal

SECRET_PREFIX = "ROSTER_TARGET_SECRET_"
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def loopback_allowed() -> bool:
    return current_policy().allow_loopback


def outbound_url(url: str, secure: set[str], plain: set[str]) -> str:
    """`url` if its scheme is a `secure` one, or a `plain` one to the loopback while
    ROSTER_ALLOW_LOOPBACK=true; ValueError otherwise (the rule: `shared.outbound.scheme_refusal`)."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise ValueError("must be an absolute URL with a host and no user or password")
    why = scheme_refusal(url, secure, plain, loopback_allowed())
    if why:
        raise ValueError(why)
    return url


def _secret_name(name: str) -> str:
    if not re.fullmatch(SECRET_PREFIX + r"[A-Z0-9_]+", name):
        raise ValueError(f"must name an environment variable {SECRET_PREFIX}…")
    return name


def _guid(value: str) -> str:
    if not GUID.fullmatch(value):
        raise ValueError("must be a GUID")
    return value.lower()


def _dn(value: str) -> str:
    problem = dn_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _template(value: str) -> str:
    problem = template_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _pem(value: str) -> str:
    if "-----BEGIN CERTIFICATE-----" not in value or len(value) > 100_000:
        raise ValueError("must be PEM certificates (-----BEGIN CERTIFICATE----- …)")
    return value


def _domain(value: str) -> str:
    value = value.strip().lower()
    if not DOMAIN.fullmatch(value):
        raise ValueError("must be a DNS domain such as example.edu")
    return value


def dn_problem(value: str) -> str | None:
    try:
        parsed = parse_dn(value)
    except (LDAPInvalidDnError, IndexError, ValueError):
        return "must be an LDAP distinguished name such as ou=people,dc=example,dc=edu"
    return None if parsed else "must not be empty"


SecretName = Annotated[str, AfterValidator(_secret_name)]
Guid = Annotated[str, AfterValidator(_guid)]
Dn = Annotated[str, StringConstraints(min_length=3, max_length=1000), AfterValidator(_dn)]
Template = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_template)]
Domain = Annotated[str, AfterValidator(_domain)]
Seconds = Annotated[float, Field(gt=0, le=60)]  # base.MAX_TIMEOUT: one call never holds a message longer
Retries = Annotated[int, Field(ge=1, le=10)]  # attempts an order gets (base.MAX_RETRIES)
Concurrency = Annotated[int, Field(ge=1, le=16)]  # calls at once, the target's lanes (base.MAX_CONCURRENCY)


class EntraSettings(Model):
    """Microsoft Graph: where, which tenant domain, how Roster authenticates, how accounts look."""

    graph_url: str = "https://graph.microsoft.com"
    domain: Domain
    auth: Literal["managed_identity", "client_secret", "token"] = "managed_identity"
    tenant_id: Guid | None = None
    client_id: Guid | None = None
    secret_env: SecretName | None = None
    token_env: SecretName | None = None
    account_template: Template = DEFAULT_TEMPLATE
    external_types: list[AffiliationType] = Field(default_factory=list)
    invite_redirect_url: str = "https://myapps.microsoft.com"
    usage_location: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    person_id_attribute: Annotated[str, StringConstraints(pattern=r"^extensionAttribute([1-9]|1[0-5])$")] = (
        "extensionAttribute15"
    )
    timeout_seconds: Seconds = 10.0
    retries: Retries = 3
    concurrency: Concurrency = 4

    @field_validator("graph_url")
    @classmethod
    def _graph_url(cls, url: str) -> str:
        return outbound_url(url.rstrip("/"), {"https"}, {"http"})

    @field_validator("invite_redirect_url")
    @classmethod
    def _redirect_url(cls, url: str) -> str:
        return outbound_url(url, {"https"}, set())

    @model_validator(mode="after")
    def _consistent(self) -> EntraSettings:
        needed = {"client_secret": ("tenant_id", "client_id", "secret_env"), "token": ("token_env",)}
        for name in needed.get(self.auth, ()):
            if getattr(self, name) is None:
                raise ValueError(f"{name} is required when auth is {self.auth}")
        return self


class LdapSettings(Model):
    """An LDAP directory (OpenLDAP with ppolicy, or Active Directory)."""

    start_tls: bool = False
    url: str
    flavour: Literal["openldap", "ad"] = "openldap"
    base_dn: Dn
    groups_base_dn: Dn | None = None
    bind_dn: Dn
    password_env: SecretName
    account_template: Template = DEFAULT_TEMPLATE
    domain: Domain | None = None  # AD: the userPrincipalName suffix
    ca_certificates: Annotated[str, AfterValidator(_pem)] | None = None  # PEM: trust these CAs, not the system's
    timeout_seconds: Seconds = 10.0
    retries: Retries = 3
    concurrency: Concurrency = 4

    @field_validator("url")
    @classmethod
    def _url(cls, url: str, info: ValidationInfo) -> str:
        if info.data.get("start_tls") and urlsplit(url).scheme == "ldap":
            return outbound_url(url, {"ldap"}, set())  # StartTLS: encrypted before the bind
        return outbound_url(url, {"ldaps"}, {"ldap"})

    @model_validator(mode="after")
    def _consistent(self) -> LdapSettings:
        if self.flavour == "ad" and self.domain is None:
            raise ValueError("domain is required for Active Directory (the userPrincipalName suffix)")
        return self

    @property
    def groups_base(self) -> str:
        return self.groups_base_dn or self.base_dn


def normal_entitlement(connector: str, entitlement: str) -> str:
    """The one spelling Roster keeps: an entra object or SKU id in lower case."""
    kind, sep, value = entitlement.partition(":")
    return f"{kind}:{value.lower()}" if connector == "entra" and sep and GUID.fullmatch(value) else entitlement


def entitlement_problem(connector: str, entitlement: str) -> str | None:
    """Why `entitlement` means nothing to the connector, or None (any text for the others)."""
    if connector not in ("entra", "ldap") or entitlement == "account":
        return None
    kind, _, value = entitlement.partition(":")
    if connector == "entra" and kind in ("group", "license"):
        what = "the group's object id" if kind == "group" else "the licence's SKU id"
        return None if GUID.fullmatch(value) else f"{kind}: must be followed by a GUID ({what})"
    if connector == "ldap" and kind == "group":
        problem = dn_problem(value)
        return None if problem is None else f"group: {problem}"
    known = "account, group:<object id> or license:<sku id>" if connector == "entra" else "account or group:<DN>"
    return f"must be {known}"
