// The Event Grid subscription that feeds the blob trigger: BlobCreated events for blobs under
// thumbnails/ go to the function's blobs_extension webhook.  Deployed by the azd postdeploy hook
// (infra/hooks/postdeploy.*), not by main.bicep: the blobs_extension system key exists only once the
// code with the Event Grid blob trigger runs.  The key is read here with listKeys, so it never passes
// through a shell, a parameter or an output.

@description('Name of the Event Grid system topic on the storage account (main.bicep output EVENTGRID_SYSTEM_TOPIC_NAME).')
param systemTopicName string

@description('Name of the function app (main.bicep output AZURE_FUNCTION_APP_NAME).')
param functionAppName string

@description('Name of the storage account (main.bicep output AZURE_STORAGE_ACCOUNT_NAME).')
param storageAccountName string

@description('Name of the blob-triggered function (@app.function_name in function_app.py).')
param functionName string = 'thumbnail_drop'

@description('The container images are dropped into.')
param incomingContainerName string = 'thumbnails'

@description('Container that receives events Event Grid gave up on.')
param eventGridDeadletterContainerName string = 'eventgrid-deadletter'

param subscriptionName string = 'thumbnail-drop'

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobCreated 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: subscriptionName
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: 'https://${site.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.${functionName}&code=${listKeys('${site.id}/host/default', '2024-04-01').systemKeys.blobs_extension}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      // The trailing slash matters: without it thumbnails-processed/ and thumbnails-deadletter/
      // (and the app's own copies into them) would trigger the function too.
      subjectBeginsWith: '/blobServices/default/containers/${incomingContainerName}/'
      // Only a blob that was completely written: single-shot uploads, committed block lists,
      // server-side copies and (on a hierarchical namespace) a flush that closes the file.
      advancedFilters: [
        {
          key: 'data.api'
          operatorType: 'StringIn'
          values: [
            'PutBlob'
            'PutBlockList'
            'CopyBlob'
            'FlushWithClose'
          ]
        }
      ]
    }
    // Keep trying for a day (the host may be cold, deploying or throttled), then dead-letter.
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    // Dead-letters are written with the system topic's own identity, which may write only to this
    // container (role-assignments.bicep).
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: storage.id
          blobContainerName: eventGridDeadletterContainerName
        }
      }
    }
  }
}

output name string = blobCreated.name
