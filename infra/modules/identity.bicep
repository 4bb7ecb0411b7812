// The function app's user-assigned managed identity. Every other module grants this
// identity the roles it needs on its own resource; nothing here holds a secret.

@description('Name of the user-assigned managed identity.')
param name string

@description('Region of the identity.')
param location string

@description('Tags of the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource id, for the site identity, keyVaultReferenceIdentity and deployment storage.')
output id string = identity.id

@description('Client id, for AZURE_CLIENT_ID and the *__clientId settings.')
output clientId string = identity.properties.clientId

@description('Object (principal) id, for role assignments.')
output principalId string = identity.properties.principalId

output name string = identity.name
