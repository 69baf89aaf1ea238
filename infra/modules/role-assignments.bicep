// Every role assignment of the deployment, least privilege, each one justified.  Names are
// deterministic (guid of scope, principal and role), so re-provisioning never duplicates them.
// tests/infra checks that exactly these role definitions are assigned.

@description('Principal (object) id of the function app\'s user-assigned identity.')
param appPrincipalId string

@description('Principal id of the Event Grid system topic\'s system-assigned identity.')
param eventGridPrincipalId string

param storageAccountName string
param eventGridDeadletterContainerName string
param keyVaultName string
param keyVaultSecretName string
param applicationInsightsName string

@description('Principal id of the operator (a user, group or CI principal) who runs doctor, deadletter and poison sweep against the account; empty: no grant.')
param operatorPrincipalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
@description('What operatorPrincipalId is.')
param operatorPrincipalType string = 'User'

@description('Name of the container the producers drop files into (thumbnails).')
param incomingContainerName string

@description('Object ids of the principals that drop files, a render farm\'s identity say; each gets Storage Blob Data Contributor on the incoming container only.  Empty: nobody but the operator can drop.')
param producerPrincipalIds array = []

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
@description('What every entry of producerPrincipalIds is: ServicePrincipal for a managed identity or an app registration (a render farm), User or Group for people.')
param producerPrincipalType string = 'ServicePrincipal'

// Built-in role definition ids (the same in every tenant).
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource eventGridDeadletter 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: eventGridDeadletterContainerName
}

resource incoming 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: incomingContainerName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = {
  parent: vault
  name: keyVaultSecretName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Storage Blob Data Owner on the account, for the app identity.  Owner rather than Contributor
// because the Functions host needs it for AzureWebJobsStorage (its locks, keys and blob-trigger
// bookkeeping in azure-webjobs-* containers, poison handling), the documented role for a blob trigger;
// the same grant covers the app's own reads, copies and conditional deletes across the thumbnail
// containers and Flex Consumption reading its package from the deployment container.
resource appBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Queue Data Contributor on the account, for the app identity.  The blob trigger's Event
// Grid source puts each event on an internal queue before invoking the function, and parks a blob
// that failed poisonBlobThreshold times on the webjobs-blobtrigger-poison queue.
resource appQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Table Data Contributor on the account, for the app identity.  Needed: the Functions host
// (Flex Consumption included) records its diagnostic events (AZFD* codes) in Table storage of
// AzureWebJobsStorage, listing, creating and deleting tables and entities; with an identity-based
// AzureWebJobsStorage it does so through __tableServiceUri and this role, and without it logs
// AZFD0003 errors and stops recording diagnostic events.  The app itself uses no tables.
resource appTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Key Vault Secrets User, for the app identity, scoped to the one secret (not the whole vault):
// App Service resolves the ITWIN_CLIENT_SECRET Key Vault reference with this identity
// (keyVaultReferenceIdentity), which needs only secrets/get on that secret.
resource appSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(secret.id, appPrincipalId, keyVaultSecretsUser)
  scope: secret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Monitoring Metrics Publisher on the Application Insights component, for the app identity: the
// component has local (instrumentation key) auth disabled, so the host and the Python worker send
// telemetry with an Entra token of this identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING).
resource appMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, appPrincipalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Blob Data Contributor, for the Event Grid system topic's identity, scoped to the Event
// Grid dead-letter container only: Event Grid writes the events it could not deliver there
// (deadLetterWithResourceIdentity).  It can read or write nothing else in the account.
resource eventGridDeadletterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventGridDeadletter.id, eventGridPrincipalId, storageBlobDataContributor)
  scope: eventGridDeadletter
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: eventGridPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Blob Data Contributor on the account, for the operator (optional, operatorPrincipalId).
// Shared keys are off, so the operator commands reach the account with the operator's own Entra
// token: `doctor` reads the containers, `deadletter list|show|redrive` reads the dead-letter
// container and copies blobs back into thumbnails/, `status` reads all three.  The same grant
// Microsoft's Event Grid blob quickstart gives the deploying user.  Contributor, not Owner: an
// operator never needs to change ACLs or take over the host's bookkeeping.
resource operatorBlobContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(storage.id, operatorPrincipalId, storageBlobDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

// Storage Queue Data Contributor on the account, for the operator (optional): `poison sweep` reads
// and deletes messages on the host's webjobs-blobtrigger-poison queue, and `doctor` peeks at it.
resource operatorQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(storage.id, operatorPrincipalId, storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

// Storage Blob Data Contributor, for each producer (optional, producerPrincipalIds), scoped to the
// incoming container only: shared keys are off, so whoever drops a file into thumbnails/ (a render
// farm, an export job) needs an Entra role to write there.  Scoped to the container, not the account:
// a producer can neither read the processed archive nor touch the dead-letters nor the host's
// bookkeeping.  Contributor is the narrowest built-in role that can write a blob.
resource producerBlobContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for producer in producerPrincipalIds: {
  name: guid(incoming.id, producer, storageBlobDataContributor)
  scope: incoming
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: producer
    principalType: producerPrincipalType
  }
}]
