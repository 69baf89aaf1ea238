// The Event Grid system topic for the storage account's events.  The subscription that feeds the
// function (eventgrid-subscription.bicep) needs the function's blobs_extension key, which exists only
// after the code is deployed, so the azd postdeploy hook creates it; this module only makes the topic.
//
// The topic has a system-assigned identity: Event Grid dead-letters undeliverable events with it
// (deadLetterWithResourceIdentity), and that identity may write only to the Event Grid dead-letter
// container (role-assignments.bicep).

param name string
param location string
param tags object
param storageAccountId string

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: storageAccountId
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

output name string = topic.name
output id string = topic.id
output principalId string = topic.identity.principalId
