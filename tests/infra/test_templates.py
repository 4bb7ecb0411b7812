"""infra/ deploys with one command: every template parses, azd finds what it needs."""

from __future__ import annotations

import json

import pytest
import yaml
from pycep import BicepParser

from tests.infra.templates import INFRA, REPO, Unresolved, bicep_files, main, module


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses(path):
    parsed = BicepParser().parse(file_path=path)

    assert parsed.get("resources") or parsed.get("modules"), f"{path.name} deploys nothing"


def test_main_composes_one_module_per_resource_under_modules():
    modules = main().modules

    paths = {m["detail"]["path"] for m in modules.values()}
    assert paths == {
        "modules/identity.bicep",
        "modules/monitoring.bicep",
        "modules/storage.bicep",
        "modules/servicebus.bicep",
        "modules/keyvault.bicep",
        "modules/function-app.bicep",
        "modules/auth.bicep",
    }
    for path in paths:
        assert (INFRA / path).is_file(), path


def test_main_deploys_a_subscription_with_its_own_resource_group():
    template = main()

    assert template.data["globals"]["scope"]["value"] == "subscription"
    (group,) = template.resources_of_type("Microsoft.Resources/resourceGroups").values()
    assert group["tags"] == "tags"
    assert template.var("tags") == {"'azd-env-name'": Unresolved("environmentName")}
    for symbol in template.modules:
        assert template.module_call(symbol)["scope"] == "rg", symbol


def test_the_function_app_is_the_azd_service_api():
    azure_yaml = yaml.safe_load((REPO / "azure.yaml").read_text())

    assert azure_yaml["services"] == {
        "api": {"project": ".", "language": "python", "host": "function", "remoteBuild": True}
    }
    site = module("function-app").resource("site")
    assert site["tags"]["function"]["parameters"]["arg_2"] == {"'azd-service-name'": "serviceName"}
    assert main().module_call("api")["params"]["serviceName"] == "api"


def test_the_parameters_file_feeds_azd_environment_values_to_main():
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    template = main()

    assert set(parameters) <= set(template.parameters), "a parameter main.bicep does not declare"
    assert parameters["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert parameters["location"]["value"] == "${AZURE_LOCATION}"
    # Every required parameter of main comes from the file; the rest have defaults.
    required = {name for name, p in template.parameters.items() if p.get("default") is None}
    assert required <= set(parameters)


def test_the_sendgrid_key_is_a_secure_optional_parameter_never_written_in_the_file():
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    template = main()

    assert "secure" in template.decorators("sendGridApiKey")
    assert template.default("sendGridApiKey") == ""
    assert parameters["sendGridApiKey"]["value"] == "${SENDGRID_API_KEY=}"
    assert "secure" in module("keyvault").decorators("sendGridApiKey")


def test_outputs_give_the_apps_url_and_no_secret():
    template = main()

    assert "api" in json.dumps(template.outputs["SERVICE_API_URI"]["value"])
    secure = {n for n in template.parameters if "secure" in template.decorators(n)}
    for name, output in template.outputs.items():
        assert not any(s in json.dumps(output) for s in secure), name
    assert (
        module("function-app").outputs["uri"]["value"]
        == "https://${site.properties.defaultHostName}"
    )
