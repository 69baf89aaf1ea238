# azd preprovision hook (PowerShell): bring back this environment's soft-deleted Key Vault, if any.
#
# `azd down` deletes the resource group, but the Key Vault only goes soft-deleted: purge protection
# (keyvault.bicep) keeps it, name and secret, for softDeleteRetentionInDays (90) and forbids purging
# it.  The vault's name is derived from the subscription, the environment name and the location, so
# `azd up` with the same environment name would try to create a vault whose name is still taken, and
# fail.  This hook looks for a deleted vault tagged with this azd environment, recreates its resource
# group and recovers it; provisioning then updates the recovered vault in place.  Same logic as
# preprovision.sh.
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$envName = [Environment]::GetEnvironmentVariable('AZURE_ENV_NAME')
if (-not $envName -and (Get-Command azd -ErrorAction SilentlyContinue)) {
    $envName = (azd env get-value AZURE_ENV_NAME 2>$null)
}
if (-not $envName) {
    Write-Error 'preprovision: AZURE_ENV_NAME is not set (run through azd, or set it).'
    exit 1
}
if (-not (Get-Command az -ErrorAction SilentlyContinue)) {
    Write-Error 'preprovision: the Azure CLI (az) is required to look for a soft-deleted Key Vault.'
    exit 1
}

$subscription = @()
if ($env:AZURE_SUBSCRIPTION_ID) { $subscription = @('--subscription', $env:AZURE_SUBSCRIPTION_ID) }

$query = "[?properties.tags.""azd-env-name""=='$envName'].{name: name, location: properties.location, id: properties.vaultId}"
$deleted = az keyvault list-deleted @subscription --resource-type vault --query $query --output json | ConvertFrom-Json
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
if (-not $deleted) {
    Write-Host "preprovision: no soft-deleted Key Vault for environment $envName; nothing to recover."
    exit 0
}

foreach ($vault in $deleted) {
    if ($vault.id -notmatch '/resourceGroups/([^/]+)/') {
        Write-Error "preprovision: cannot tell the resource group of deleted vault $($vault.name) ($($vault.id))."
        exit 1
    }
    $resourceGroup = $Matches[1]
    Write-Host "preprovision: recovering soft-deleted Key Vault $($vault.name) into $resourceGroup ($($vault.location))..."
    az group create @subscription --name $resourceGroup --location $vault.location --tags "azd-env-name=$envName" --output none
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    az keyvault recover @subscription --name $vault.name --resource-group $resourceGroup --location $vault.location --output none
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    Write-Host "preprovision: Key Vault $($vault.name) recovered; provisioning will update it."
}
