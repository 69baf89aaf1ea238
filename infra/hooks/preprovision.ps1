# azd preprovision hook (PowerShell): bring back this deployment's soft-deleted Key Vault, if any.
#
# `azd down` deletes the resource group, but the Key Vault only goes soft-deleted: purge protection
# (keyvault.bicep) keeps it, name and secret, for softDeleteRetentionInDays (90) and forbids purging
# it.  The vault's name is derived from the subscription, the environment name and the location, so
# `azd up` with the same environment name would try to create a vault whose name is still taken, and
# fail.  This hook looks for the deleted vault this template made for this environment (name prefix
# kv-, resource group rg-<environment>, the location azd deploys to, tag azd-env-name), recreates its
# resource group and recovers it; provisioning then updates the recovered vault in place.  Same rules
# as preprovision.sh.
#
# On Windows az is az.cmd, and a double quote inside an argument does not survive the trip from
# PowerShell through Command Prompt (Azure CLI's doc/quoting-issues-with-powershell.md).  So the
# --query below holds none: it selects by name prefix and returns the tags, and this script checks the
# tag (whose hyphenated name JMESPath could only match in double quotes), the group and the location.
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
$location = [Environment]::GetEnvironmentVariable('AZURE_LOCATION')
if (-not $location -and (Get-Command azd -ErrorAction SilentlyContinue)) {
    $location = (azd env get-value AZURE_LOCATION 2>$null)
}
if (-not $location) {
    Write-Host 'preprovision: AZURE_LOCATION is not set, so no deleted Key Vault can be told to be this deployment''s; nothing recovered.'
    exit 0
}
if (-not (Get-Command az -ErrorAction SilentlyContinue)) {
    Write-Error 'preprovision: the Azure CLI (az) is required to look for a soft-deleted Key Vault.'
    exit 1
}

$subscription = @()
if ($env:AZURE_SUBSCRIPTION_ID) { $subscription = @('--subscription', $env:AZURE_SUBSCRIPTION_ID) }
$wantGroup = "rg-$envName"
$wantLocation = $location.Replace(' ', '')

$query = '[?starts_with(name, ''kv-'')].{name: name, location: properties.location, vaultId: properties.vaultId, tags: properties.tags}'
$deleted = @(az keyvault list-deleted @subscription --resource-type vault --query $query --output json | ConvertFrom-Json)
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }

$found = $false
foreach ($vault in $deleted) {
    $tag = $null
    if ($vault.tags -and $vault.tags.PSObject.Properties['azd-env-name']) { $tag = $vault.tags.'azd-env-name' }
    if ($tag -ne $envName) { continue }
    $found = $true
    if ($vault.vaultId -notmatch '/resourceGroups/([^/]+)/') {
        Write-Error "preprovision: cannot tell the resource group of deleted vault $($vault.name) ($($vault.vaultId))."
        exit 1
    }
    $resourceGroup = $Matches[1]
    # -ne compares case-insensitively, as ARM compares resource group names and locations
    if ($resourceGroup -ne $wantGroup -or $vault.location.Replace(' ', '') -ne $wantLocation) {
        Write-Host "preprovision: leaving deleted Key Vault $($vault.name) alone: it was in $resourceGroup ($($vault.location)), this deployment is $wantGroup ($location)."
        continue
    }
    Write-Host "preprovision: recovering soft-deleted Key Vault $($vault.name) into $resourceGroup ($($vault.location))..."
    az group create @subscription --name $resourceGroup --location $vault.location --tags "azd-env-name=$envName" --output none
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    az keyvault recover @subscription --name $vault.name --resource-group $resourceGroup --location $vault.location --output none
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
    Write-Host "preprovision: Key Vault $($vault.name) recovered; provisioning will update it."
}
if (-not $found) {
    Write-Host "preprovision: no soft-deleted Key Vault for environment $envName; nothing to recover."
}
