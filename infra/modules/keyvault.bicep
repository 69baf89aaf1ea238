// Key Vault (RBAC authorization, soft delete, purge protection) holding the IMS client secret.
// The function app reads it through a Key Vault reference resolved with the user-assigned identity,
// which holds Key Vault Secrets User on this one secret (role-assignments.bicep).

param name string
param location string
param tags object

@description('Name of the secret that holds the IMS client secret.')
param secretName string

@secure()
@description('The IMS (Bentley) client secret of the service application.')
param itwinClientSecret string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    // checkov:skip=CKV_AZURE_189: App Service resolves Key Vault references from outside any VNet here (no VNet integration in this deployment); access is RBAC-only, to one identity, on one secret.
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      // checkov:skip=CKV_AZURE_109: a 'Deny' firewall would block the Key Vault reference (App Service is not a trusted service for it without VNet integration).
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: secretName
  properties: {
    // checkov:skip=CKV_AZURE_41: the secret's lifetime is set where it is issued (the Bentley developer portal); an expiry on this copy would stop the app without rotating anything. Rotate by re-provisioning with the new ITWIN_CLIENT_SECRET.
    value: itwinClientSecret
    contentType: 'text/plain'
    attributes: {
      enabled: true
    }
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
output secretName string = secret.name
