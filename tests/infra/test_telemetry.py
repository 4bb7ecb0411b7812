"""The function app reaches the Application Insights the Bicep provisions: its connection string
and Entra authentication are app settings, so shared/telemetry.py turns Azure Monitor on by
itself, once (docs/telemetry.md)."""

from __future__ import annotations

from tests.infra.templates import app_settings, main, module, text


def test_the_function_app_gets_the_provisioned_application_insights_connection_string():
    assert text(app_settings()["APPLICATIONINSIGHTS_CONNECTION_STRING"]) == '"applicationInsightsConnectionString"'
    assert "applicationInsightsConnectionString" in module("function-app").parameters
    passed = text(main().module_call("api")["params"]["applicationInsightsConnectionString"])
    assert '"monitoring"' in passed and '"connectionString"' in passed
    output = text(module("monitoring").outputs["connectionString"]["value"])
    assert '"applicationInsights"' in output and '"ConnectionString"' in output


def test_the_site_applies_the_host_settings_with_the_apps_own():
    site_config = module("function-app").resource("site")["properties"]["siteConfig"]
    assert text(site_config["appSettings"]) == text({"function": {"type": "concat", "parameters": {
        "arg_1": "hostSettings", "arg_2": "appSettings"}}})


def test_telemetry_authenticates_with_the_apps_identity_since_local_auth_is_off():
    assert text(app_settings()["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]).endswith("Authorization=AAD")


def test_telemetry_is_neither_turned_off_nor_set_up_a_second_time_by_the_worker():
    settings = app_settings()
    assert settings.get("ROSTER_TELEMETRY", "azure") == "azure"
    assert "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY" not in settings  # function_app.py sets it up itself
