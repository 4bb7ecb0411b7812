// The Service Bus namespace that carries the chain of docs/architecture.md §4. Local (SAS)
// authentication is disabled: senders and receivers, the app included, use Entra
// identities. Session-keyed queues deliver one person's messages in order.

@description('Name of the namespace.')
param name string

@description('Region of the namespace.')
param location string

@description('Tags of the namespace.')
param tags object = {}

@description('Queues: { name, requiresSession, maxDeliveryCount } each.')
param queues array

@description('Principal id of the app identity, which both sends and receives.')
param principalId string

@description('How long a receiver holds a message lock (the host renews it).')
param lockDuration string = 'PT1M'

@description('Time to live of a message, after which it is dead-lettered. A scheduled message counts from its scheduled time.')
param messageTimeToLive string = 'P14D'

@description('Window in which a message id already seen is dropped as a duplicate.')
param duplicateDetectionWindow string = 'PT10M'

// Azure Service Bus Data Sender / Data Receiver
var dataSenderRoleId = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
var dataReceiverRoleId = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

// requiresSession and requiresDuplicateDetection are fixed when a queue is created;
// changing them later means deleting and re-creating the queue.
resource queue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [for q in queues: {
  parent: namespace
  name: q.name
  properties: {
    requiresSession: q.requiresSession
    maxDeliveryCount: q.maxDeliveryCount
    lockDuration: lockDuration
    defaultMessageTimeToLive: messageTimeToLive
    deadLetteringOnMessageExpiration: true
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    enableBatchedOperations: true
    enablePartitioning: false
  }
}]

resource dataSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(namespace.id, principalId, dataSenderRoleId)
  scope: namespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataSenderRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource dataReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(namespace.id, principalId, dataReceiverRoleId)
  scope: namespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataReceiverRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output name string = namespace.name

@description('ServiceBusConnection__fullyQualifiedNamespace.')
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
