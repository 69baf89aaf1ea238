// The one user-assigned managed identity the function app uses for everything: host storage
// (AzureWebJobsStorage__*), the THUMBNAILS_STORAGE__* connection, the Flex deployment container,
// the Key Vault reference and Application Insights.  Its roles are in role-assignments.bicep.

param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
