"""The Graph application permissions of entra targets: the list in infra/entra is the one
the connector names on a 403, main.bicep gives out the identity's principal id, and the
admin-consent script grants each permission once (run here against a fake `az`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from shared.connectors.graph import INVITE, MEMBERS, USERS
from tests.infra.templates import INFRA, main

PERMISSIONS = json.loads((INFRA / "entra" / "graph-permissions.json").read_text())
SCRIPT = INFRA / "entra" / "grant-graph-permissions.sh"
FAKE_AZ = r"""#!/usr/bin/env bash
echo "$*" >> "$AZ_LOG"
case "$*" in
  "ad sp show --id 00000003-0000-0000-c000-000000000000 --query id -o tsv") echo graph-sp ;;
  *"value=='User.ReadWrite.All'"*) echo role-users ;;
  *"value=='GroupMember.ReadWrite.All'"*) echo role-members ;;
  *"value=='User.Invite.All'"*) echo role-invite ;;
  "rest --method GET"*) echo role-members ;;
  "rest --method POST"*) echo '{}' ;;
  *) echo "unexpected az $*" >&2; exit 2 ;;
esac
"""


def test_the_permissions_are_the_ones_the_connector_names_on_graph_microsoft_com():
    assert PERMISSIONS["resourceAppId"] == "00000003-0000-0000-c000-000000000000"  # Microsoft Graph
    assert sorted(PERMISSIONS["appRoles"]) == sorted({USERS, MEMBERS, INVITE})


def test_main_gives_out_the_managed_identitys_principal_id():
    output = main().outputs["AZURE_PRINCIPAL_ID"]

    assert "identity" in json.dumps(output["value"]) and "principalId" in json.dumps(output["value"])


def test_the_consent_script_grants_each_missing_permission_once(tmp_path: Path):
    (tmp_path / "az").write_text(FAKE_AZ)
    (tmp_path / "az").chmod(0o755)
    log = tmp_path / "az.log"
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "AZ_LOG": str(log)}

    run = subprocess.run([str(SCRIPT), "principal-1"], env=env, capture_output=True, text=True, timeout=30)

    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["User.ReadWrite.All: granted", "GroupMember.ReadWrite.All: granted already",
                                       "User.Invite.All: granted"]
    posts = [line for line in log.read_text().splitlines() if line.startswith("rest --method POST")]
    assert [json.loads(p.split("--body ", 1)[1])["appRoleId"] for p in posts] == ["role-users", "role-invite"]
    assert all("servicePrincipals/principal-1/appRoleAssignments" in p and '"resourceId": "graph-sp"' in p
               for p in posts)


def test_the_consent_script_needs_the_principal_id():
    run = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=30)

    assert run.returncode != 0 and "usage:" in run.stderr
