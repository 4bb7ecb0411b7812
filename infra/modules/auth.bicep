// App Service Authentication (Easy Auth) in front of the function app: it validates the
// Entra access token of every request and hands the app the caller and its app roles in
// X-MS-CLIENT-PRINCIPAL (docs/architecture.md §7). No client secret: the app only validates
// bearer tokens, it signs nobody in.

@description('Name of the function app.')
param siteName string

@description('Application (client) id of Roster\'s Entra app registration.')
param clientId string

@description('Tenant of the app registration.')
param tenantId string = tenant().tenantId

@description('What happens to a request without a valid token. Return401 suits API callers; the app itself answers 403 on a missing role.')
@allowed([
  'Return401'
  'Return403'
  'RedirectToLoginPage'
  'AllowAnonymous'
])
param unauthenticatedClientAction string = 'Return401'

@description('Paths reachable without a token.')
param excludedPaths array = [
  '/api/health'
]

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: siteName
}

resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  //checkov:skip=CKV_AZURE_13:checkov reads every Microsoft.Web/sites/config as the web config or as authsettings v1 (properties.enabled); this is authsettingsV2, which enables authentication with platform.enabled and has none of those properties.
  //checkov:skip=CKV_AZURE_63:checkov reads every Microsoft.Web/sites/config as the web config or as authsettings v1 (properties.enabled); this is authsettingsV2, which enables authentication with platform.enabled and has none of those properties.
  //checkov:skip=CKV_AZURE_65:checkov reads every Microsoft.Web/sites/config as the web config or as authsettings v1 (properties.enabled); this is authsettingsV2, which enables authentication with platform.enabled and has none of those properties.
  //checkov:skip=CKV_AZURE_66:checkov reads every Microsoft.Web/sites/config as the web config or as authsettings v1 (properties.enabled); this is authsettingsV2, which enables authentication with platform.enabled and has none of those properties.
  //checkov:skip=CKV_AZURE_80:checkov reads every Microsoft.Web/sites/config as the web config or as authsettings v1 (properties.enabled); this is authsettingsV2, which enables authentication with platform.enabled and has none of those properties.
  //checkov:skip=CKV_AZURE_88:checkov reads every Microsoft.Web/sites/config as the web config or as authsettings v1 (properties.enabled); this is authsettingsV2, which enables authentication with platform.enabled and has none of those properties.
  //checkov:skip=CKV_AZURE_222:checkov reads every Microsoft.Web/sites/config as the web config or as authsettings v1 (properties.enabled); this is authsettingsV2, which enables authentication with platform.enabled and has none of those properties.
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: unauthenticatedClientAction != 'AllowAnonymous'
      unauthenticatedClientAction: unauthenticatedClientAction
      redirectToProvider: 'azureactivedirectory'
      excludedPaths: excludedPaths
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: clientId
          // This issuer accepts both v1 and v2 access tokens of the tenant.
          openIdIssuer: 'https://sts.windows.net/${tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${clientId}'
            clientId
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
    httpSettings: {
      requireHttps: true
    }
  }
}
