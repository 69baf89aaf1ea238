# azd postdeploy hook (PowerShell): subscribe the function to blob events.
#
# The Event Grid subscription targets the function's blobs_extension webhook, whose system key the
# Functions host creates only once the code with the Event Grid blob trigger is running, so it cannot
# be part of `azd provision`.  This hook waits for that key, then deploys
# infra/modules/eventgrid-subscription.bicep, which reads the key itself (listKeys): the key never
# passes through this script.  The filter (BlobCreated under thumbnails/, data.api, retries,
# dead-letter) lives in that module only.
#
# azd passes the main.bicep outputs as environment variables; run by hand, the script asks
# `azd env get-value` for them.  Needs the Azure CLI, logged in (`az login`) to the same tenant.
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$template = Join-Path $PSScriptRoot '..' 'modules' 'eventgrid-subscription.bicep'

function Get-AzdValue([string] $Name) {
    $current = [Environment]::GetEnvironmentVariable($Name)
    if (-not $current -and (Get-Command azd -ErrorAction SilentlyContinue)) {
        $current = (azd env get-value $Name 2>$null)
        if ($LASTEXITCODE -ne 0) { $current = $null }
    }
    if (-not $current) {
        Write-Error "postdeploy: $Name is not set; run 'azd provision' first (or set it)."
        exit 1
    }
    return "$current".Trim()
}

if (-not (Get-Command az -ErrorAction SilentlyContinue)) {
    Write-Error 'postdeploy: the Azure CLI (az) is required to create the Event Grid subscription.'
    exit 1
}

$subscriptionId = Get-AzdValue 'AZURE_SUBSCRIPTION_ID'
$resourceGroup = Get-AzdValue 'AZURE_RESOURCE_GROUP'
$functionApp = Get-AzdValue 'AZURE_FUNCTION_APP_NAME'
$storageAccount = Get-AzdValue 'AZURE_STORAGE_ACCOUNT_NAME'
$systemTopic = Get-AzdValue 'EVENTGRID_SYSTEM_TOPIC_NAME'
$incomingContainer = Get-AzdValue 'THUMBNAILS_CONTAINER_NAME'
$eventGridDeadletterContainer = Get-AzdValue 'EVENTGRID_DEADLETTER_CONTAINER_NAME'

# 1. Wait for the blobs_extension system key (only whether it exists is asked; it is not printed).
$attempts = 40
for ($attempt = 1; ; $attempt++) {
    $exists = az functionapp keys list `
        --subscription $subscriptionId --resource-group $resourceGroup --name $functionApp `
        --query 'systemKeys.blobs_extension != null' --output tsv 2>$null
    if ($LASTEXITCODE -eq 0 -and "$exists".Trim() -eq 'true') { break }
    if ($attempt -ge $attempts) {
        Write-Error "postdeploy: no blobs_extension key on $functionApp after $attempts tries; is the blob trigger deployed and the host starting? Re-run: pwsh infra/hooks/postdeploy.ps1"
        exit 1
    }
    Write-Host "postdeploy: waiting for the function host to create its blobs_extension key ($attempt/$attempts)..."
    Start-Sleep -Seconds 15
}

# 2. Create or update the subscription.  Event Grid validates the webhook when it is created, which
#    fails while the host is still starting: retry a few times.
$attempts = 5
for ($attempt = 1; ; $attempt++) {
    az deployment group create `
        --subscription $subscriptionId `
        --resource-group $resourceGroup `
        --name thumbnail-drop-eventgrid-subscription `
        --template-file $template `
        --parameters `
            "systemTopicName=$systemTopic" `
            "functionAppName=$functionApp" `
            "storageAccountName=$storageAccount" `
            "incomingContainerName=$incomingContainer" `
            "eventGridDeadletterContainerName=$eventGridDeadletterContainer" `
        --output none
    if ($LASTEXITCODE -eq 0) {
        Write-Host "postdeploy: Event Grid subscription on $systemTopic feeds $functionApp."
        exit 0
    }
    if ($attempt -ge $attempts) {
        Write-Error "postdeploy: could not create the Event Grid subscription after $attempts tries."
        exit 1
    }
    Write-Host "postdeploy: webhook not ready yet, retrying in 30 s ($attempt/$attempts)..."
    Start-Sleep -Seconds 30
}
