// Azure Monitor alerts, all notifying one action group:
// - log alerts over the app's telemetry in Application Insights (the `traces` table: the td_* custom
//   dimensions shared/delivery/log.py writes, and the host's own lines).  The queries live in
//   infra/queries/*.kql: the rules load them from there, and tests/ops/test_alerts.py runs the same
//   files over what a real run (Azurite and the iTwin emulator) sent through the Azure Monitor
//   exporter, so a rule that would never fire, or fire on a clean run, fails a test;
// - metric alerts on the Event Grid system topic, which fire when the app is silent: events Event
//   Grid could not deliver to the function (the host is down, never started, or answers with an
//   error), dead-lettered to eventgrid-deadletter, or dropped.

param location string
param tags object

@description('Resource id of the Application Insights component the rules query.')
param applicationInsightsId string

@description('Resource id of the Event Grid system topic that delivers the blob events to the function.')
param eventGridSystemTopicId string

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

resource functionFailures 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-function-failures'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Thumbnails: function invocations failing'
    description: 'The host reported failed invocations of thumbnail_drop beyond the app\'s own retries (a binding, identity or worker failure before or around the code). Look at the host\'s lines and exceptions in Application Insights; blobs wait and are retried.'
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
          query: loadTextContent('../queries/function-failures.kql')
          timeAggregation: 'Total'
          metricMeasureColumn: 'unexplained'
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

// Event Grid's own metrics (Microsoft.EventGrid/systemTopics): they count whether or not the function
// runs, so they are the alerts for a silent app.  Evaluated every 5 minutes over the last 15.
resource eventGridDeliveryFailures 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-eventgrid-delivery-failures'
  location: 'global'
  tags: tags
  properties: {
    description: 'Event Grid could not deliver blob events to the function (the host is down, did not start, or answered with an error); it retries for 24 hours, then dead-letters. Check the function app is running and its last deployment.'
    severity: 1
    enabled: true
    scopes: [
      eventGridSystemTopicId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeliveryAttemptFailCount'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DeliveryAttemptFailCount'
          timeAggregation: 'Total'
          operator: 'GreaterThan'
          threshold: 0
        }
      ]
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

resource eventGridDeadLettered 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-eventgrid-deadlettered'
  location: 'global'
  tags: tags
  properties: {
    description: 'Event Grid gave up delivering blob events and dead-lettered them to the eventgrid-deadletter container: those blobs were never processed. Each dead-lettered event (a JSON blob there) names its blob: fix the function, then upload those blobs again.'
    severity: 1
    enabled: true
    scopes: [
      eventGridSystemTopicId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLetteredCount'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DeadLetteredCount'
          timeAggregation: 'Total'
          operator: 'GreaterThan'
          threshold: 0
        }
      ]
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

resource eventGridDropped 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-eventgrid-dropped'
  location: 'global'
  tags: tags
  properties: {
    description: 'Event Grid dropped blob events (not delivered and not dead-lettered, e.g. the dead-letter container was unreachable): those blobs are in the thumbnails container with no event. Re-upload them or process them with the CLI.'
    severity: 1
    enabled: true
    scopes: [
      eventGridSystemTopicId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DroppedEventCount'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DroppedEventCount'
          timeAggregation: 'Total'
          operator: 'GreaterThan'
          threshold: 0
        }
      ]
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

output actionGroupId string = actionGroup.id
output ruleNames array = [
  deadletters.name
  retriesExhausted.name
  throttling.name
  functionFailures.name
  eventGridDeliveryFailures.name
  eventGridDeadLettered.name
  eventGridDropped.name
]
