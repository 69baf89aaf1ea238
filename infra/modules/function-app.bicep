// The function app: a Flex Consumption (FC1) plan and a Python 3.11 app on it that runs as the
// user-assigned identity for everything (host storage, THUMBNAILS_STORAGE, the deployment package,
// the Key Vault reference, Application Insights).  No key or connection string is stored in it.

param name string
param planName string
param location string
param tags object

@description('Resource id of the user-assigned identity.')
param identityId string

@description('Client id of the user-assigned identity.')
param identityClientId string

param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
param keyVaultName string
param keyVaultSecretName string

param incomingContainerName string
param processedContainerName string
param deadletterContainerName string

@description('IMS client id of the iTwin service application.')
param itwinClientId string

param itwinApiUrl string
param itwinTokenUrl string

@allowed([
  2048
  4096
])
@description('Memory of each instance, in MB.  512 is left out: four concurrent image decodes (host.json maxDegreeOfParallelism) do not fit next to the host and the Python worker.')
param instanceMemoryMB int

// How many instances may run at once.  Flex Consumption's documented range is 40 to 1000
// (learn.microsoft.com azure-functions/flex-consumption-plan, "Considerations"); lower values are a
// preview in a few regions and refused elsewhere.  The cap does not bound the iTwin API call rate:
// one instance runs host.json maxDegreeOfParallelism = 4 blobs at a time, about one call each, so 40
// instances could make far more than the Community tier's 500 calls/min; the app's own pacing and
// retry-after handling keep it under the limit (infra/README.md, "Maximum instance count").
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

// Settings the code reads (shared.settings.DEFAULTS) that are deliberately NOT set here, so the
// documented default applies; tests/infra checks that every name in DEFAULTS is either set below or
// listed here.  THUMBNAILS_STORAGE itself (a connection string) is never set in Azure: the
// identity-based THUMBNAILS_STORAGE__* settings below replace it.
var settingsLeftToDefault = [
  'STATE_CONTAINER'
  'REASSERT_QUEUE'
  'ITWIN_SCOPE'
  'THUMBNAIL_MAX_WIDTH'
  'THUMBNAIL_MAX_HEIGHT'
  'MAX_BLOB_BYTES'
  'MAX_IMAGE_PIXELS'
  'ALLOW_TIFF'
  'HDR_EXPOSURE_STOPS'
  'IMAGE_MEMORY_BUDGET_MB'
  'IMAGE_ISOLATION'
  'IMAGE_TIMEOUT_SECONDS'
  'IMAGE_WORKERS'
  'RETRY_BUDGET_SECONDS'
  'RETRY_AFTER_CAP_SECONDS'
  'NOT_INITIALIZED_WINDOW_MINUTES'
  'MAX_DELIVERY_ATTEMPTS'
  'HTTP_CONNECT_TIMEOUT_SECONDS'
  'HTTP_READ_TIMEOUT_SECONDS'
  'ITWIN_SHARED_PACE'
  'ITWIN_CALLS_PER_MINUTE'
  'ITWIN_CALLS_PER_HOUR'
  'PACE_CONTAINER'
  'PACE_FALLBACK_INSTANCES'
]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    // checkov:skip=CKV_AZURE_225: zone redundancy on Flex Consumption needs a zone-enabled region and at least two always-ready instances, which defeats scale-to-zero; an outage only delays blobs (they wait in the container, Event Grid retries for 24 h).
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  // azd finds the service it deploys by this tag.
  tags: union(tags, {
    'azd-service-name': 'thumbnails'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    // checkov:skip=CKV_AZURE_222: Event Grid delivers blob events to the blobs_extension webhook over the public endpoint (it cannot reach a private one); the webhook requires the blobs_extension system key.
    // checkov:skip=CKV_AZURE_17: Event Grid webhook deliveries carry no client certificate; the webhook is authenticated by the blobs_extension key over HTTPS.
    // checkov:skip=CKV_AZURE_78: Flex Consumption has no FTP/FTPS endpoint (ftpsState is not a valid property there); deployment is the package container only.
    // checkov:skip=CKV_AZURE_212: scale to zero on purpose; a pinned instance would cost around the clock for a trigger that Event Grid retries anyway.
    // checkov:skip=CKV_AZURE_213: the app serves no HTTP endpoint a health check could probe; the only inbound call is the Event Grid webhook, which Event Grid retries.
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references (ITWIN_CLIENT_SECRET) are resolved with the user-assigned identity.
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
      appSettings: [
        // Host storage, identity-based (no AzureWebJobsStorage connection string).
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identityClientId
        }
        {
          name: 'AzureWebJobsStorage__blobServiceUri'
          value: storage.properties.primaryEndpoints.blob
        }
        {
          name: 'AzureWebJobsStorage__queueServiceUri'
          value: storage.properties.primaryEndpoints.queue
        }
        {
          name: 'AzureWebJobsStorage__tableServiceUri'
          value: storage.properties.primaryEndpoints.table
        }
        // The trigger's connection (connection="THUMBNAILS_STORAGE"), identity-based.
        {
          name: 'THUMBNAILS_STORAGE__blobServiceUri'
          value: storage.properties.primaryEndpoints.blob
        }
        {
          name: 'THUMBNAILS_STORAGE__queueServiceUri'
          value: storage.properties.primaryEndpoints.queue
        }
        {
          name: 'THUMBNAILS_STORAGE__credential'
          value: 'managedidentity'
        }
        {
          name: 'THUMBNAILS_STORAGE__clientId'
          value: identityClientId
        }
        // The trigger path is %THUMBNAILS_CONTAINER%/{imodelId}/{name}: the host needs this one set.
        {
          name: 'THUMBNAILS_CONTAINER'
          value: incomingContainerName
        }
        {
          name: 'PROCESSED_CONTAINER'
          value: processedContainerName
        }
        {
          name: 'DEADLETTER_CONTAINER'
          value: deadletterContainerName
        }
        {
          name: 'ITWIN_API_URL'
          value: itwinApiUrl
        }
        {
          name: 'ITWIN_TOKEN_URL'
          value: itwinTokenUrl
        }
        {
          name: 'ITWIN_CLIENT_ID'
          value: itwinClientId
        }
        // Versionless reference: a new secret version is picked up without touching the app.
        {
          name: 'ITWIN_CLIENT_SECRET'
          value: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${keyVaultSecretName}/)'
        }
        // The per-decode memory cap is half the instance (shared.imaging.limits.decode_cap_for).
        {
          name: 'INSTANCE_MEMORY_MB'
          value: string(instanceMemoryMB)
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsights.properties.ConnectionString
        }
        // Entra-only ingestion (the component has local auth off): the host's and the worker's
        // exporters get a token as the user-assigned identity, which holds Monitoring Metrics Publisher.
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identityClientId};Authorization=AAD'
        }
        // The worker's OpenTelemetry path (host.json telemetryMode OpenTelemetry): the worker loads the
        // Azure Monitor distro, and the app's log records arrive with their td_* fields as
        // customDimensions; without it the worker forwards only level, message and category.
        {
          name: 'PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY'
          value: 'true'
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
output planName string = plan.name
output settingsLeftToDefault array = settingsLeftToDefault
