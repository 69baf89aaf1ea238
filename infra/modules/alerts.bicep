// Azure Monitor alerts over the app's logs in Application Insights (the `traces` table, with the
// td_* custom dimensions shared/delivery/log.py writes), and the action group they notify.
// The queries live in infra/queries/*.kql: the rules load them from there, and tests/ops/test_alerts.py
// runs the same files over the log records of a real run (Azurite and the iTwin emulator), so a rule
// that would never fire, or fire on a clean run, fails a test.

param location string
param tags object

@description('Resource id of the Application Insights component the rules query.')
param applicationInsightsId string

@description('Where alerts are e-mailed; empty: the action group has no receiver (add one in the portal or redeploy with it).')
param alertEmail string = ''

@minValue(1)
@maxValue(100)
@description('Throttling alert: fire when more than this percentage of outcomes in 15 minutes ended throttled (HTTP 429).')
param throttlePercent int = 10

@minValue(1)
@description('Throttling alert: only judge the rate once this many outcomes were logged in the window.')
param throttleMinimumOutcomes int = 20

param actionGroupName string
param namePrefix string

var emailReceiver = [
  {
    name: 'operator'
    emailAddress: alertEmail
    useCommonAlertSchema: true
  }
]
var throttlingQuery = replace(replace(loadTextContent('../queries/throttling.kql'), '{thresholdPercent}', string(throttlePercent)), '{minimumOutcomes}', string(throttleMinimumOutcomes))

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'thumbnails'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : emailReceiver
  }
}

// Every rule: evaluated every 5 minutes over the last 15, on the App Insights component, resolved
// automatically once the query is quiet again.
resource deadletters 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-deadletters'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Thumbnails dead-lettered'
    description: 'A blob was dead-lettered in the last 15 minutes; one alert per error code. See `python -m shared.cli deadletter list` and each .error.json hint.'
    severity: 2
    enabled: true
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    scopes: [
      applicationInsightsId
    ]
    criteria: {
      allOf: [
        {
          query: loadTextContent('../queries/deadletters.kql')
          timeAggregation: 'Total'
          metricMeasureColumn: 'deadletters'
          dimensions: [
            {
              name: 'code'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource retriesExhausted 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-retries-exhausted'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Thumbnails: retries exhausted or poison message'
    description: 'A blob used up its delivery attempts (RetriesExhausted) or the host parked it in webjobs-blobtrigger-poison. Run `python -m shared.cli poison sweep`, then look at the dead-letters.'
    severity: 1
    enabled: true
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    scopes: [
      applicationInsightsId
    ]
    criteria: {
      allOf: [
        {
          query: loadTextContent('../queries/retries-exhausted.kql')
          timeAggregation: 'Total'
          metricMeasureColumn: 'events'
          // one alert per blob: the query's `by blob`, so the alert names the blob
          dimensions: [
            {
              name: 'blob'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource throttling 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-throttling'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Thumbnails: iTwin 429 rate'
    description: 'More than ${throttlePercent}% of blob outcomes in 15 minutes ended throttled by the iTwin Platform: lower maximumInstanceCount or ask for a higher tier (infra/README.md, rate-limit math).'
    severity: 2
    enabled: true
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    scopes: [
      applicationInsightsId
    ]
    criteria: {
      allOf: [
        {
          query: throttlingQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

output actionGroupId string = actionGroup.id
output ruleNames array = [
  deadletters.name
  retriesExhausted.name
  throttling.name
]
