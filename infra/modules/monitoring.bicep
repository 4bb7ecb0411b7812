// Log Analytics workspace and workspace-based Application Insights with local
// (instrumentation-key) authentication disabled: telemetry is accepted only from
// Entra identities, here the app's identity as Monitoring Metrics Publisher.

@description('Name of the Log Analytics workspace.')
param logAnalyticsName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Region of both resources.')
param location string

@description('Tags of both resources.')
param tags object = {}

@description('Principal id of the app identity that publishes telemetry.')
param principalId string

@description('Days of log retention in the workspace.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

// Monitoring Metrics Publisher
var metricsPublisherRoleId = '3913510d-42f4-4e42-8a64-420c390055eb'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      disableLocalAuth: true
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, principalId, metricsPublisherRoleId)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', metricsPublisherRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output applicationInsightsName string = applicationInsights.name

// Not a secret: with DisableLocalAuth the instrumentation key in it authorises nothing;
// ingestion needs an Entra token (APPLICATIONINSIGHTS_AUTHENTICATION_STRING).
@description('Where the Functions host sends telemetry.')
output connectionString string = applicationInsights.properties.ConnectionString
