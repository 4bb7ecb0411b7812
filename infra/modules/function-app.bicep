// The Flex Consumption plan and the Python 3.11 function app. The app runs as the
// user-assigned identity: it pulls its package from the deployment container, reaches
// the host storage, Service Bus, Table Storage and Key Vault, and publishes telemetry,
// all without a key or connection string.

@description('Name of the function app (also its default host name).')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Region of the plan and the app; must offer Flex Consumption.')
param location string

@description('Tags of the plan and the app.')
param tags object = {}

@description('azd service this app deploys (azure.yaml).')
param serviceName string = 'api'

@description('Resource id of the user-assigned identity.')
param identityId string

@description('Client id of the user-assigned identity.')
param identityClientId string

@description('Storage account of the host (AzureWebJobsStorage).')
param storageAccountName string

@description('URL of the blob container that holds the app package.')
param deploymentContainerUrl string

@description('Application Insights connection string (authorises nothing: local auth is off).')
param applicationInsightsConnectionString string

@description('Roster\'s own settings, as { name, value } pairs.')
param appSettings array = []

@description('Most instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory of each instance.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Spread instances over availability zones (the region must have them).')
param zoneRedundant bool = false

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  //checkov:skip=CKV_AZURE_225:Zone redundancy needs a region with availability zones and keeps at least two billed always-ready instances per function group; opt in with the zoneRedundant parameter.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
    zoneRedundant: zoneRedundant
  }
}

// Identity-based host settings: the host's storage and telemetry go through the
// user-assigned identity; AZURE_CLIENT_ID makes DefaultAzureCredential pick it too.
var hostSettings = [
  {
    name: 'AzureWebJobsStorage__accountName'
    value: storageAccountName
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identityClientId
  }
  {
    name: 'AZURE_CLIENT_ID'
    value: identityClientId
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: applicationInsightsConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${identityClientId};Authorization=AAD'
  }
]

resource site 'Microsoft.Web/sites@2024-04-01' = {
  //checkov:skip=CKV_AZURE_17:Callers do not authenticate with client certificates: HR systems, Power Automate and staff present Entra tokens checked by App Service Authentication (modules/auth.bicep).
  //checkov:skip=CKV_AZURE_222:Roster is called from the internet (HR systems, Power Automate, staff browsers); App Service Authentication guards every route but /api/health.
  //checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero; queued work waits in Service Bus meanwhile. Always-ready instances are an operator's choice at a cost.
  //checkov:skip=CKV_AZURE_213:Flex Consumption does not support the App Service health check; /api/health serves external monitors.
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
      ftpsState: 'Disabled'
      appSettings: concat(hostSettings, appSettings)
    }
  }
}

output name string = site.name

output defaultHostName string = site.properties.defaultHostName

output uri string = 'https://${site.properties.defaultHostName}'
