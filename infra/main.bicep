// Thumbnail drop for iModels: everything but the Event Grid subscription, which the azd postdeploy
// hook creates from modules/eventgrid-subscription.bicep once the code (and so the blobs_extension
// key) exists.  See infra/README.md.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; also seeds the resource names.')
param environmentName string

@minLength(1)
@description('Region for all resources (one that offers Flex Consumption).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('IMS client id of the iTwin service application.')
param itwinClientId string

@secure()
@description('IMS client secret of that application; stored in Key Vault, never in an app setting or an output.')
param itwinClientSecret string

@description('iTwin Platform API base URL.')
param itwinApiUrl string = 'https://api.bentley.com'

@description('IMS token endpoint.')
param itwinTokenUrl string = 'https://ims.bentley.com/connect/token'

@allowed([
  2048
  4096
])
@description('Memory of each Flex Consumption instance, in MB.')
param instanceMemoryMB int = 2048

// Flex Consumption accepts 40 to 1000 (its documented range; below 40 only as a preview in a few
// regions).  40 instances can call the iTwin API far faster than its rate limit allows: the app paces
// and retries its own calls, the instance cap does not (infra/README.md, "Maximum instance count").
@minValue(40)
@maxValue(1000)
@description('Most instances the app may scale out to: 40 (the lowest maximum Flex Consumption accepts) to 1000.')
param maximumInstanceCount int = 40

@minValue(1)
@description('Days a source stays in the processed container before lifecycle management deletes it.')
param processedRetentionDays int = 30

@description('Principal id of the operator who runs doctor, deadletter, status and poison sweep (azd fills it with the signed-in user, AZURE_PRINCIPAL_ID); empty: no operator grant.')
param principalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
@description('What principalId is: azd fills it (AZURE_PRINCIPAL_TYPE) with the type of its signed-in principal, User for a person, ServicePrincipal for a CI identity; Group only by hand.')
param principalType string = 'User'

@description('Object ids of the principals that drop files into the incoming container (a render farm\'s managed identity or service principal; PRODUCER_PRINCIPAL_IDS, a JSON array); each gets Storage Blob Data Contributor on that container only.')
param producerPrincipalIds array = []

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
@description('What every producerPrincipalIds entry is (PRODUCER_PRINCIPAL_TYPE).')
param producerPrincipalType string = 'ServicePrincipal'

@description('E-mail address the alerts go to (ALERT_EMAIL); empty: the action group has no receiver.')
param alertEmail string = ''

@minValue(1)
@maxValue(100)
@description('The 429 alert fires above this percentage of throttled outcomes in 15 minutes.')
param throttleAlertPercent int = 10

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}

var incomingContainerName = 'thumbnails'
var processedContainerName = 'thumbnails-processed'
var deadletterContainerName = 'thumbnails-deadletter'
var eventGridDeadletterContainerName = 'eventgrid-deadletter'
var deploymentContainerName = 'app-package'
var keyVaultSecretName = 'itwin-client-secret'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-thumbnails-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    incomingContainerName: incomingContainerName
    processedContainerName: processedContainerName
    deadletterContainerName: deadletterContainerName
    eventGridDeadletterContainerName: eventGridDeadletterContainerName
    deploymentContainerName: deploymentContainerName
    processedRetentionDays: processedRetentionDays
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
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    eventGridSystemTopicId: systemTopic.outputs.id
    alertEmail: alertEmail
    throttlePercent: throttleAlertPercent
    actionGroupName: 'ag-thumbnails-${resourceToken}'
    namePrefix: 'alert-thumbnails-${resourceToken}'
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    nameSeed: resourceToken
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    secretName: keyVaultSecretName
    itwinClientSecret: itwinClientSecret
  }
}

module systemTopic 'modules/eventgrid-system-topic.bicep' = {
  name: 'eventgrid-system-topic'
  scope: rg
  params: {
    name: 'evgt-${resourceToken}'
    location: location
    tags: tags
    storageAccountId: storage.outputs.id
  }
}

module roles 'modules/role-assignments.bicep' = {
  name: 'role-assignments'
  scope: rg
  params: {
    appPrincipalId: identity.outputs.principalId
    eventGridPrincipalId: systemTopic.outputs.principalId
    storageAccountName: storage.outputs.name
    eventGridDeadletterContainerName: eventGridDeadletterContainerName
    keyVaultName: keyVault.outputs.name
    keyVaultSecretName: keyVault.outputs.secretName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    operatorPrincipalId: principalId
    operatorPrincipalType: principalType
    incomingContainerName: incomingContainerName
    producerPrincipalIds: producerPrincipalIds
    producerPrincipalType: producerPrincipalType
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: 'func-${resourceToken}'
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    keyVaultSecretName: keyVault.outputs.secretName
    incomingContainerName: incomingContainerName
    processedContainerName: processedContainerName
    deadletterContainerName: deadletterContainerName
    itwinClientId: itwinClientId
    itwinApiUrl: itwinApiUrl
    itwinTokenUrl: itwinTokenUrl
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
  }
  // The app starts resolving its Key Vault reference, reading storage and sending telemetry as soon
  // as it exists: let its roles be in place first.
  dependsOn: [
    roles
  ]
}

// Names and URIs only (azd stores outputs in .azure/<env>/.env and hands them to the hooks).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_USER_ASSIGNED_IDENTITY_NAME string = identity.outputs.name
output EVENTGRID_SYSTEM_TOPIC_NAME string = systemTopic.outputs.name
output THUMBNAILS_CONTAINER_NAME string = incomingContainerName
output PROCESSED_CONTAINER_NAME string = processedContainerName
output DEADLETTER_CONTAINER_NAME string = deadletterContainerName
output EVENTGRID_DEADLETTER_CONTAINER_NAME string = eventGridDeadletterContainerName
