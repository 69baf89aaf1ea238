// Log Analytics workspace and a workspace-based Application Insights component that only accepts
// Entra ID-authenticated telemetry (DisableLocalAuth): the function app sends with its user-assigned
// identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING), which holds Monitoring Metrics Publisher.

param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object

@minValue(30)
@maxValue(730)
param retentionInDays int = 30

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      disableLocalAuth: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

// Names only: the connection string is read where it is used (function-app.bicep), not passed around.
output applicationInsightsName string = appInsights.name
output applicationInsightsId string = appInsights.id
output logAnalyticsName string = workspace.name
