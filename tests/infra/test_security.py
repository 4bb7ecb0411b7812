"""What checkov does not check: no local auth, no keys, only the roles the app needs."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.infra.templates import (
    REPO,
    Unresolved,
    app_settings,
    bicep_files,
    main,
    module,
    text,
)

# Built-in roles the app's identity needs, by id: (name, module, type of the scope resource).
ROLES = {
    "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": (
        "Azure Service Bus Data Sender",
        "servicebus",
        "Microsoft.ServiceBus/namespaces",
    ),
    "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": (
        "Azure Service Bus Data Receiver",
        "servicebus",
        "Microsoft.ServiceBus/namespaces",
    ),
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": (
        "Storage Table Data Contributor",
        "storage",
        "Microsoft.Storage/storageAccounts",
    ),
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": (
        "Storage Blob Data Owner",
        "storage",
        "Microsoft.Storage/storageAccounts",
    ),
    "4633458b-17de-408a-b874-0445c86b69e6": (
        "Key Vault Secrets User",
        "keyvault",
        "Microsoft.KeyVault/vaults",
    ),
    "3913510d-42f4-4e42-8a64-420c390055eb": (
        "Monitoring Metrics Publisher",
        "monitoring",
        "Microsoft.Insights/components",
    ),
}

# Values that only a key, a SAS or a connection string would contain.
SECRET_PATTERNS = re.compile(
    r"AccountKey=|SharedAccessKey|SharedAccessSignature|DefaultEndpointsProtocol|Endpoint=sb://"
    r"|listKeys\(|listConnectionStrings|listAccountSas|listServiceSas|primaryKey|secondaryKey",
    re.IGNORECASE,
)


# --- Service Bus -------------------------------------------------------------------------


def test_service_bus_accepts_entra_identities_only_over_tls_1_2():
    (namespace,) = (
        module("servicebus").resources_of_type("Microsoft.ServiceBus/namespaces").values()
    )

    assert namespace["sku"] == {"name": "Standard", "tier": "Standard"}
    assert namespace["properties"]["disableLocalAuth"] is True
    assert namespace["properties"]["minimumTlsVersion"] == "1.2"


def test_service_bus_grants_no_shared_access_policy():
    for path in bicep_files():
        assert "authorizationRules" not in path.read_text(), path.name


# --- Storage, Application Insights, Key Vault ----------------------------------------------


def test_storage_takes_no_shared_key_and_no_anonymous_reader():
    storage = module("storage")
    (account,) = storage.resources_of_type("Microsoft.Storage/storageAccounts").values()
    props = account["properties"]

    assert props["allowSharedKeyAccess"] is False
    assert props["allowBlobPublicAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["supportsHttpsTrafficOnly"] is True
    (container,) = storage.resources_of_type(
        "Microsoft.Storage/storageAccounts/blobServices/containers"
    ).values()
    assert container["properties"]["publicAccess"] == "None"
    assert storage.resources_of_type("Microsoft.Storage/storageAccounts/tableServices")


def test_application_insights_takes_telemetry_from_entra_identities_only():
    monitoring = module("monitoring")
    (component,) = monitoring.resources_of_type("Microsoft.Insights/components").values()
    (workspace,) = monitoring.resources_of_type("Microsoft.OperationalInsights/workspaces").values()

    assert component["properties"]["DisableLocalAuth"] is True
    assert "workspace" in text(component["properties"]["WorkspaceResourceId"])
    assert workspace["properties"]["features"]["disableLocalAuth"] is True
    assert app_settings()["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == (
        "ClientId=${identityClientId};Authorization=AAD"
    )


def test_key_vault_is_in_rbac_mode_and_recoverable():
    keyvault = module("keyvault")
    (vault,) = keyvault.resources_of_type("Microsoft.KeyVault/vaults").values()
    props = vault["properties"]

    assert props["enableRbacAuthorization"] is True
    assert "accessPolicies" not in props
    assert props["enableSoftDelete"] is True
    assert keyvault.default("enablePurgeProtection") is True
    assert main().default("keyVaultPurgeProtection") is True


def test_the_sendgrid_secret_is_written_only_when_a_key_is_given():
    keyvault = module("keyvault")
    secret = keyvault.resources["sendGridSecret"]

    assert "empty" in text(secret["config"]["condition"])
    assert keyvault.resource("sendGridSecret")["properties"]["contentType"] == "text/plain"


# --- Role assignments ----------------------------------------------------------------------


def role_assignments():
    for path in bicep_files():
        template = module(path.stem) if path.parent.name == "modules" else main()
        for symbol, body in template.resources_of_type(
            "Microsoft.Authorization/roleAssignments"
        ).items():
            yield path.stem, template, symbol, body


def test_the_identity_gets_exactly_the_roles_it_needs_each_beside_its_resource():
    granted = {}
    for module_name, template, symbol, body in role_assignments():
        role_id = template.resolve(
            body["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
        )
        assert role_id in ROLES, f"{module_name}.{symbol} grants an unexpected role {role_id}"
        name, home, scope_type = ROLES[role_id]
        assert module_name == home, f"{name} is granted in {module_name}, not beside its resource"
        assert template.resources[body["scope"]]["type"] == scope_type, f"{name} on {body['scope']}"
        assert body["properties"]["principalId"] == "principalId"
        assert body["properties"]["principalType"] == "ServicePrincipal"
        granted[role_id] = name

    assert set(granted) == set(ROLES)


def test_role_assignments_are_named_with_guid_of_scope_principal_and_role():
    for module_name, _, symbol, body in role_assignments():
        name = body["name"]["function"]
        assert name["type"] == "guid", f"{module_name}.{symbol}"
        args = list(name["parameters"].values())
        assert text(args[0]).count(body["scope"]) == 1, f"{module_name}.{symbol}: guid of its scope"
        assert "principalId" in args and any(str(a).endswith("RoleId") for a in args), symbol


def test_every_module_takes_the_identity_it_grants_from_the_identity_module():
    for symbol in ("monitoring", "storage", "serviceBus", "keyVault"):
        principal = main().module_call(symbol)["params"]["principalId"]
        assert "identity" in text(principal) and "principalId" in text(principal), symbol


# --- App settings --------------------------------------------------------------------------


def test_connections_are_identity_based():
    settings = app_settings()

    assert "ServiceBusConnection__fullyQualifiedNamespace" in settings
    assert settings["ServiceBusConnection__credential"] == "managedidentity"
    assert "clientId" in text(settings["ServiceBusConnection__clientId"])
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == Unresolved("identityClientId")
    assert settings["AzureWebJobsStorage__accountName"] == Unresolved("storageAccountName")
    assert settings["AZURE_CLIENT_ID"] == Unresolved("identityClientId")
    # A plain ServiceBusConnection or AzureWebJobsStorage would be a connection string.
    assert "ServiceBusConnection" not in settings
    assert "AzureWebJobsStorage" not in settings


def test_no_setting_holds_a_key_or_a_connection_string():
    settings = app_settings()

    for name, value in settings.items():
        assert not SECRET_PATTERNS.search(text(value)), name
        if re.search(r"connection_?string|_key$|password|secret", name, re.IGNORECASE):
            # The only exceptions: App Insights' connection string carries an
            # instrumentation key that authorises nothing once local auth is disabled;
            # the SendGrid key, the DevOps hook secret and the national-id key are Key Vault references.
            assert name in {"APPLICATIONINSIGHTS_CONNECTION_STRING", "SENDGRID_API_KEY", "ROSTER_DEVOPS_HOOK_SECRET",
                            "ROSTER_NATIONAL_ID_KEY"}, name
            if name != "APPLICATIONINSIGHTS_CONNECTION_STRING":
                assert text(value).startswith("@Microsoft.KeyVault("), name


def test_the_teams_webhook_url_is_a_key_vault_reference():
    # A Workflows URL carries its signature (sig=): whoever has it can post to the channel.
    assert text(app_settings()["ROSTER_TEAMS_WEBHOOK"]).startswith("@Microsoft.KeyVault(")


def test_no_template_holds_a_key_or_a_connection_string():
    for path in bicep_files():
        assert not SECRET_PATTERNS.search(path.read_text()), path.name


def test_the_sendgrid_key_is_a_key_vault_reference():
    value = app_settings()["SENDGRID_API_KEY"]

    assert value == "@Microsoft.KeyVault(SecretUri=${keyVault.outputs.sendGridSecretUri})"
    site = module("function-app").resource("site")
    assert site["properties"]["keyVaultReferenceIdentity"] == "identityId"


def test_the_national_id_key_is_a_key_vault_reference():
    value = app_settings()["ROSTER_NATIONAL_ID_KEY"]

    assert value == "@Microsoft.KeyVault(SecretUri=${keyVault.outputs.nationalIdSecretUri})"


def test_rosters_settings_are_those_the_app_reads():
    settings = app_settings()
    readers = [REPO / "shared" / "config.py", *sorted((REPO / "shared" / "tickets").glob("*.py"))]
    config = "".join(path.read_text() for path in readers)

    roster = {name for name in settings if name.startswith("ROSTER_")}
    assert roster == {
        "ROSTER_STORE",
        "ROSTER_BUS",
        "ROSTER_MAIL",
        "ROSTER_CHAIN",
        "ROSTER_TIMEZONE",
        "ROSTER_STAFF_EMAIL",
        "ROSTER_MAIL_FROM",
        "ROSTER_PUBLIC_URL",
        "ROSTER_NATIONAL_ID_KEY",
        "ROSTER_TEAMS_WEBHOOK",
        "ROSTER_TICKETS",
        "ROSTER_DEVOPS_URL",
        "ROSTER_DEVOPS_PROJECT",
        "ROSTER_DEVOPS_WORK_ITEM_TYPE",
        "ROSTER_DEVOPS_STATES",
        "ROSTER_DEVOPS_AUTH",
        "ROSTER_DEVOPS_HOOK_SECRET",
    }
    for name in roster | {"SENDGRID_API_KEY", "ServiceBusConnection__fullyQualifiedNamespace"}:
        assert f'"{name}"' in config, f"neither shared/config.py nor shared/tickets reads {name}"
    assert settings["ROSTER_BUS"] == "servicebus"
    assert settings["ROSTER_MAIL"] == "sendgrid"
    assert settings["ROSTER_CHAIN"] in {"sync", "async"}
    assert "tableEndpoint" in text(settings["ROSTER_STORE"])
    assert (
        module("storage")
        .outputs["tableEndpoint"]["value"]
        .startswith("https://${storage.name}.table.")
    )
    assert settings["ROSTER_PUBLIC_URL"].startswith("https://")
    # On one machine the API keys are secrets; in Azure roles come from App Service Authentication.
    assert "ROSTER_API_KEYS" not in settings


@pytest.mark.parametrize(
    "name", ["FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE"]
)
def test_flex_consumption_settings_live_in_function_app_config_not_app_settings(name):
    assert name not in app_settings()


def test_the_function_app_runs_python_3_11_on_flex_consumption_as_its_identity():
    function_app = module("function-app")
    plan = function_app.resource("plan")
    site = function_app.resource("site")
    config = site["properties"]["functionAppConfig"]

    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["properties"]["reserved"] is True
    assert site["kind"] == "functionapp,linux"
    assert site["identity"]["type"] == "UserAssigned"
    assert site["properties"]["httpsOnly"] is True
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["deployment"]["storage"]["type"] == "blobContainer"
    assert config["deployment"]["storage"]["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityId",
    }
    assert set(config["scaleAndConcurrency"]) == {"maximumInstanceCount", "instanceMemoryMB"}
    assert site["properties"]["siteConfig"]["minTlsVersion"] == "1.2"


def test_app_service_authentication_is_optional_and_validates_entra_tokens():
    call = main().modules["auth"]["config"]
    auth = module("auth")
    settings = auth.resource("authSettings")["properties"]

    assert "authClientId" in text(call["condition"])
    assert main().default("authClientId") == ""
    assert settings["platform"]["enabled"] is True
    assert auth.default("unauthenticatedClientAction") == "Return401"
    assert auth.default("excludedPaths") == ["/api/health"]
    aad = settings["identityProviders"]["azureActiveDirectory"]
    assert aad["enabled"] is True
    assert "clientSecretSettingName" not in text(aad)
    assert aad["validation"]["allowedAudiences"] == ["api://${clientId}", "clientId"]


def test_the_app_registration_declares_the_roles_of_architecture_section_7():
    roles = json.loads((REPO / "infra" / "entra" / "app-roles.json").read_text())

    assert {r["value"] for r in roles} == {
        "Persons.Write",
        "Persons.Read",
        "Groups.Manage",
        "Suspend.Manage",
        "Provisioning.Operate",
        "Requests.Submit",
        "Requests.Manage",
        "Admin",
    }
    ids = [str(uuid.UUID(r["id"])) for r in roles]
    assert len(set(ids)) == len(roles)
    for role in roles:
        assert role["isEnabled"] is True
        # Users (staff) and applications (HR systems, the intake flow) both hold roles.
        assert set(role["allowedMemberTypes"]) == {"User", "Application"}, role["value"]
