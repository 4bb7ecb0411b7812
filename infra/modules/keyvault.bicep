// Key Vault in RBAC mode for Roster's secrets: the SendGrid API key and the key national ids
// are hashed with (docs/matching.md). The app reads them through Key Vault references
// (SENDGRID_API_KEY, ROSTER_NATIONAL_ID_KEY) with its own identity as Key Vault Secrets
// User; nobody gets an access policy.

@description('Name of the vault (3-24 characters).')
@minLength(3)
@maxLength(24)
param name string

@description('Region of the vault.')
param location string

@description('Tags of the vault.')
param tags object = {}

@description('Principal id of the app identity that reads the secret.')
param principalId string

@secure()
@description('SendGrid API key. Empty: the secret is not written (an existing one is kept); set it later with az keyvault secret set.')
param sendGridApiKey string = ''

@description('Purge protection: a deleted vault and its secrets stay recoverable for the retention period and cannot be purged. Cannot be turned off once on.')
param enablePurgeProtection bool = true

@description('Name of the secret that holds the SendGrid API key.')
param sendGridSecretName string = 'sendgrid-api-key'

@description('Name of the secret that holds the national-id hashing key (set by the operator: az keyvault secret set; never rotated without re-hashing, docs/matching.md).')
param nationalIdSecretName string = 'national-id-key'

// Key Vault Secrets User: read secret values, nothing else.
var secretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  //checkov:skip=CKV_AZURE_42:Soft delete is on and purge protection is on by default (enablePurgeProtection, asserted in tests/infra); checkov cannot read the `? true : null` the API needs, as it refuses false.
  //checkov:skip=CKV_AZURE_110:Soft delete is on and purge protection is on by default (enablePurgeProtection, asserted in tests/infra); checkov cannot read the `? true : null` the API needs, as it refuses false.
  //checkov:skip=CKV_AZURE_109:No VNet: the platform resolves the app's Key Vault reference over the public endpoint (App Service is no trusted service for the firewall). Access is RBAC-only; the app's identity is the only Secrets User.
  //checkov:skip=CKV_AZURE_189:No VNet: the platform resolves the app's Key Vault reference over the public endpoint (App Service is no trusted service for the firewall). Access is RBAC-only; the app's identity is the only Secrets User.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // The API accepts true or nothing: false is refused.
    enablePurgeProtection: enablePurgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource sendGridSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (!empty(sendGridApiKey)) {
  //checkov:skip=CKV_AZURE_41:A SendGrid key has no expiry of its own; an expiry date here would silently stop all mail when it passes. Rotation is manual (infra/README.md).
  //checkov:skip=CKV_AZURE_114:contentType is set below; checkov does not read inside a conditional (if) resource. tests/infra asserts it.
  parent: vault
  name: sendGridSecretName
  properties: {
    value: sendGridApiKey
    contentType: 'text/plain'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, secretsUserRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUserRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output name string = vault.name

output uri string = vault.properties.vaultUri

@description('Versionless URI of the SendGrid secret: the reference follows the latest version.')
output sendGridSecretUri string = '${vault.properties.vaultUri}secrets/${sendGridSecretName}'

@description('Versionless URI of the national-id hashing key.')
output nationalIdSecretUri string = '${vault.properties.vaultUri}secrets/${nationalIdSecretName}'
