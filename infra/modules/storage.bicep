// The storage account: host storage for the Functions runtime, the Flex deployment container, the
// four containers the app works on, and the container Event Grid dead-letters undeliverable events to.
// Identity-only: shared keys are off, so no connection string to this account exists anywhere.

param name string
param location string
param tags object

@description('Where render farms drop images: thumbnails/{imodelId}/{name}.')
param incomingContainerName string

@description('Where uploaded sources are moved; aged out after processedRetentionDays.')
param processedContainerName string

@description('Where permanently failed sources (and their .error.json) are moved; never aged out.')
param deadletterContainerName string

@description('One delivery record per iModel (which drop its thumbnail came from); never aged out. The app reads STATE_CONTAINER, left to its default, which is this name.')
param stateContainerName string = 'thumbnails-state'

@description('Delayed re-asserts: after a send whose outcome is unknown, one more PUT of the newest recorded drop once the in-doubt bound has passed. The app reads REASSERT_QUEUE, left to its default, which is this name.')
param reassertQueueName string = 'thumbnail-reassert'

@description('The shared pace of iTwin calls, one small blob per client. The app reads PACE_CONTAINER, left to its default, which is this name.')
param paceContainerName string = 'thumbnails-pace'

@description('Where Event Grid writes events it could not deliver to the function.')
param eventGridDeadletterContainerName string

@description('Holds the app package that Flex Consumption runs from.')
param deploymentContainerName string

@minValue(1)
@description('Days after which blobs in the processed container are deleted.')
param processedRetentionDays int

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGRS'
  'Standard_RAGZRS'
])
@description('Replication. Geo-redundant by default: the dead-letter container is the only record of failed drops.')
param skuName string = 'Standard_GRS'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // checkov:skip=CKV_AZURE_59: Flex Consumption without VNet integration reaches storage over its public endpoint; every request needs an Entra token (shared keys are off). Close this with VNet integration and private endpoints.
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      // checkov:skip=CKV_AZURE_35: 'Deny' would lock out the function app, which has no VNet in this deployment (see CKV_AZURE_59); access is identity-only.
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    // A deleted source or dead-letter can be undeleted for a week (the app deletes every source it moves).
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource incoming 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: incomingContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource processed 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: processedContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource deadletter 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deadletterContainerName
  properties: {
    publicAccess: 'None'
  }
}

// No lifecycle rule touches it: the order of an iModel's drops must outlive the 30-day archive.
resource state 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: stateContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// The thumbnail_reassert function's trigger queue; messages are sent with a visibility delay.
resource reassertQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: reassertQueueName
}

// The shared pace of iTwin calls (docs/rate-limit.md): rewritten a few times a second, never aged out.
resource pace 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: paceContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource eventGridDeadletter 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: eventGridDeadletterContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Lifecycle management: the processed container keeps a copy of what was uploaded for
// processedRetentionDays, then it goes.  There is deliberately no rule for the dead-letter
// containers: a failed drop stays until a person has looked at it (`cli deadletter`).
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'delete-processed-thumbnails'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              // The trailing slash keeps the rule inside this one container.
              prefixMatch: [
                '${processedContainerName}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: processedRetentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
  dependsOn: [
    processed
  ]
}

output id string = storage.id
output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output tableEndpoint string = storage.properties.primaryEndpoints.table
