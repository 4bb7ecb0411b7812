// Roster on Azure: a Flex Consumption function app (Python 3.11) running as a
// user-assigned identity, Service Bus queues for the chain, Table Storage for the data,
// Key Vault for the SendGrid key and Application Insights for telemetry.
// One command: `azd up`, or `az deployment sub create -l <region> -f infra/main.bicep
// -p environmentName=<name> location=<region>` (infra/README.md).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the environment: names the resource group and seeds the unique suffix of every resource.')
param environmentName string

@minLength(1)
@description('Region of every resource; must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@secure()
@description('SendGrid API key, written to Key Vault as secret sendgrid-api-key. Empty: no secret is written (an existing one is kept); set it later (infra/README.md).')
param sendGridApiKey string = ''

@description('Application (client) id of Roster\'s Entra app registration. Empty: App Service Authentication is not configured and the app trusts no caller.')
param authClientId string = ''

@description('With authentication: what a request without a token gets. Return401 for API callers; RedirectToLoginPage sends staff browsers to sign in (the console), and API callers always send a token.')
@allowed([
  'Return401'
  'RedirectToLoginPage'
])
param authUnauthenticatedClientAction string = 'Return401'

@description('Default mode of POST /api/persons: async hands the chain to Service Bus, sync runs it in the request.')
@allowed([
  'async'
  'sync'
])
param chain string = 'async'

@description('Mailer: sendgrid (SENDGRID_API_KEY from Key Vault) or outbox (stored, listed at /api/outbox).')
@allowed([
  'sendgrid'
  'outbox'
])
param mail string = 'sendgrid'

@description('Address of the identity desk that receives staff notifications.')
param staffEmail string = 'identity-desk@example.edu'

@description('Sender address of Roster\'s emails (a verified SendGrid sender).')
param mailFrom string = 'roster@example.edu'

@description('IANA time zone in which date-only starts and ends are read.')
param timezone string = 'UTC'

@description('Request desk ticket mirror (docs/request-desk.md): none, or azure_devops to keep each request in step with an Azure Boards work item.')
@allowed([
  'none'
  'azure_devops'
])
param tickets string = 'none'

@description('With tickets=azure_devops: the organization URL, e.g. https://dev.azure.com/contoso.')
param devopsUrl string = ''

@description('With tickets=azure_devops: the project that holds the work items.')
param devopsProject string = ''

@description('With tickets=azure_devops: the work item type of a request.')
param devopsWorkItemType string = 'Issue'

@description('With tickets=azure_devops: JSON map of Roster states (New, InPlanning, InProgress, Done, Closed, Rejected; tasks Open, Completed) to the process states.')
param devopsStates string = '{}'

@description('Purge protection on the Key Vault. Turn off only for short-lived test environments: once on it cannot be turned off.')
param keyVaultPurgeProtection bool = true

@description('Most instances the function app scales out to.')
param maximumInstanceCount int = 100

@description('Spread the app over availability zones (needs a region with zones; keeps two billed always-ready instances per function group).')
param zoneRedundant bool = false

// The queues of docs/architecture.md §4. `setting` is the app setting the triggers bind with
// (queue_name="%PersonUpdateQueue%"); the four chain queues are session-keyed
// (one person's messages in order); the notification and group-reevaluation queues are not
// (a re-evaluation batch covers many persons); ticket-mirror is keyed by request number.
var queues = [
  {
    setting: 'PersonUpdateQueue'
    name: 'person-update'
    requiresSession: true
    maxDeliveryCount: 10
  }
  {
    setting: 'PersonChangedQueue'
    name: 'person-changed'
    requiresSession: true
    maxDeliveryCount: 10
  }
  {
    setting: 'GroupUpdateQueue'
    name: 'group-update'
    requiresSession: true
    maxDeliveryCount: 10
  }
  {
    setting: 'ProvisioningOrderQueue'
    name: 'provisioning-order'
    requiresSession: true
    maxDeliveryCount: 10
  }
  {
    setting: 'NotificationQueue'
    name: 'notification'
    requiresSession: false
    maxDeliveryCount: 10
  }
  {
    setting: 'GroupReevaluationQueue'
    name: 'group-reevaluation'
    requiresSession: false
    maxDeliveryCount: 10
  }
  {
    setting: 'TicketMirrorQueue'
    name: 'ticket-mirror'
    requiresSession: true
    maxDeliveryCount: 10
  }
]

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-api-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'
// The app's own address, known before it exists (links in emails).
var publicUrl = 'https://${functionAppName}.azurewebsites.net'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-api-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    principalId: identity.outputs.principalId
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    name: 'sb-${resourceToken}'
    location: location
    tags: tags
    queues: queues
    principalId: identity.outputs.principalId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    // An azd placeholder left unresolved ("${SENDGRID_API_KEY=}" from a plain
    // `az deployment` of the azd parameters file) is no key; SendGrid keys start "SG.".
    sendGridApiKey: startsWith(sendGridApiKey, '$') ? '' : sendGridApiKey
    enablePurgeProtection: keyVaultPurgeProtection
  }
}

// Queue names by setting, bound by the triggers as %Setting%.
var queueSettings = [for q in queues: {
  name: q.setting
  value: q.name
}]

// Roster's settings (docs/architecture.md §8). Every connection is identity-based; secrets
// (SendGrid key, Teams webhook URL, DevOps hook secret, national-id key) are Key Vault
// references resolved by the platform with the app's identity. A reference to a secret not
// yet set resolves to nothing Roster uses (the app treats an unresolved reference as unset).
var appSettings = concat([
  {
    name: 'ServiceBusConnection__fullyQualifiedNamespace'
    value: serviceBus.outputs.fullyQualifiedNamespace
  }
  {
    name: 'ServiceBusConnection__credential'
    value: 'managedidentity'
  }
  {
    name: 'ServiceBusConnection__clientId'
    value: identity.outputs.clientId
  }
  {
    name: 'ROSTER_STORE'
    value: storage.outputs.tableEndpoint
  }
  {
    name: 'ROSTER_BUS'
    value: 'servicebus'
  }
  {
    name: 'ROSTER_MAIL'
    value: mail
  }
  {
    name: 'SENDGRID_API_KEY'
    value: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.sendGridSecretUri})'
  }
  {
    name: 'ROSTER_NATIONAL_ID_KEY'
    value: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.nationalIdSecretUri})'
  }
  {
    name: 'ROSTER_CHAIN'
    value: chain
  }
  {
    name: 'ROSTER_TIMEZONE'
    value: timezone
  }
  {
    name: 'ROSTER_STAFF_EMAIL'
    value: staffEmail
  }
  {
    name: 'ROSTER_MAIL_FROM'
    value: mailFrom
  }
  {
    name: 'ROSTER_PUBLIC_URL'
    value: publicUrl
  }
  {
    // A Workflows URL carries its signature (sig=): a secret, read from Key Vault.
    name: 'ROSTER_TEAMS_WEBHOOK'
    value: '@Microsoft.KeyVault(VaultName=${keyVault.outputs.name};SecretName=teams-webhook)'
  }
  {
    name: 'ROSTER_TICKETS'
    value: tickets
  }
  {
    name: 'ROSTER_DEVOPS_URL'
    value: devopsUrl
  }
  {
    name: 'ROSTER_DEVOPS_PROJECT'
    value: devopsProject
  }
  {
    name: 'ROSTER_DEVOPS_WORK_ITEM_TYPE'
    value: devopsWorkItemType
  }
  {
    name: 'ROSTER_DEVOPS_STATES'
    value: devopsStates
  }
  {
    // The app's managed identity, added to the DevOps organization; no personal access token.
    name: 'ROSTER_DEVOPS_AUTH'
    value: 'entra'
  }
  {
    name: 'ROSTER_DEVOPS_HOOK_SECRET'
    value: '@Microsoft.KeyVault(VaultName=${keyVault.outputs.name};SecretName=devops-hook-secret)'
  }
], queueSettings)

module api 'modules/function-app.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    serviceName: 'api'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    appSettings: appSettings
    maximumInstanceCount: maximumInstanceCount
    zoneRedundant: zoneRedundant
  }
}

module auth 'modules/auth.bicep' = if (!empty(authClientId)) {
  name: 'auth'
  scope: rg
  params: {
    siteName: api.outputs.name
    clientId: authClientId
    unauthenticatedClientAction: authUnauthenticatedClientAction
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
@description('The app\'s URL; the API is under /api.')
output SERVICE_API_URI string = api.outputs.uri
output SERVICE_API_NAME string = api.outputs.name
@description('Client id of the app\'s managed identity (not a secret).')
output AZURE_CLIENT_ID string = identity.outputs.clientId
@description('Principal id of the app\'s managed identity: infra/entra/grant-graph-permissions.sh grants it the Graph permissions of entra targets.')
output AZURE_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output AZURE_SERVICEBUS_NAMESPACE string = serviceBus.outputs.name
output SERVICEBUS_FULLY_QUALIFIED_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output ROSTER_STORE string = storage.outputs.tableEndpoint
