#!/usr/bin/env bash
# The one-time admin consent for the entra connector (docs/targets.md, "Admin consent"):
# grants the function app's managed identity the Microsoft Graph application permissions
# listed in graph-permissions.json. Bicep cannot do this without the deployer holding
# AppRoleAssignment.ReadWrite.All, so a Privileged Role Administrator (or Global
# Administrator) runs it once after `azd provision`:
#
#   infra/entra/grant-graph-permissions.sh "$(azd env get-value AZURE_PRINCIPAL_ID)"
#
# Idempotent: a permission granted already is left as it is. Needs az (logged in) and jq.
set -euo pipefail

principal="${1:?usage: $0 <principal id of the managed identity (output AZURE_PRINCIPAL_ID)>}"
here="$(cd "$(dirname "$0")" && pwd)"
graph_app="$(jq -r '.resourceAppId' "$here/graph-permissions.json")"
graph_url="https://graph.microsoft.com/v1.0"

graph_sp="$(az ad sp show --id "$graph_app" --query id -o tsv)"
granted="$(az rest --method GET --url "$graph_url/servicePrincipals/$principal/appRoleAssignments" \
  --query "value[].appRoleId" -o tsv)"

for role in $(jq -r '.appRoles[]' "$here/graph-permissions.json"); do
  role_id="$(az ad sp show --id "$graph_app" \
    --query "appRoles[?value=='$role' && contains(allowedMemberTypes, 'Application')].id | [0]" -o tsv)"
  if [ -z "$role_id" ]; then
    echo "$role: no such application permission on Microsoft Graph" >&2
    exit 1
  fi
  if grep -qx "$role_id" <<<"$granted"; then
    echo "$role: granted already"
    continue
  fi
  az rest --method POST --url "$graph_url/servicePrincipals/$principal/appRoleAssignments" \
    --headers Content-Type=application/json \
    --body "{\"principalId\": \"$principal\", \"resourceId\": \"$graph_sp\", \"appRoleId\": \"$role_id\"}" \
    >/dev/null
  echo "$role: granted"
done
