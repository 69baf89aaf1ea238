#!/bin/sh
# azd preprovision hook (POSIX): bring back this deployment's soft-deleted Key Vault, if any.
#
# `azd down` deletes the resource group, but the Key Vault only goes soft-deleted: purge protection
# (keyvault.bicep) keeps it, name and secret, for softDeleteRetentionInDays (90) and forbids purging
# it.  The vault's name is derived from the subscription, the environment name and the location, so
# `azd up` with the same environment name would try to create a vault whose name is still taken, and
# fail (VaultAlreadyExists / ConflictError).  This hook looks for the deleted vault this template made
# for this environment, recreates its resource group and recovers it; provisioning then updates the
# recovered vault in place and sets the secret's new version.
#
# A deleted vault is this deployment's only if all four match (the azd-env-name tag alone is on every
# azd template's resources): its name starts with kv- (main.bicep), it was in resource group
# rg-<environment> (main.bicep; compared case-insensitively, as ARM compares names), it was in the
# location azd deploys to now (AZURE_LOCATION: after a region change the old region's vault stays
# deleted and a new one is made), and it carries azd-env-name=<environment>.
#
# Nothing to do on a first `azd up`, or when the vault was never deleted.  Needs the Azure CLI,
# logged in (`az login`) to the same tenant.  Run by hand:
#   AZURE_ENV_NAME=<env> AZURE_LOCATION=<region> sh infra/hooks/preprovision.sh
set -eu

env_name=${AZURE_ENV_NAME:-}
if [ -z "$env_name" ] && command -v azd >/dev/null 2>&1; then
  env_name=$(azd env get-value AZURE_ENV_NAME 2>/dev/null || true)
fi
if [ -z "$env_name" ]; then
  echo "preprovision: AZURE_ENV_NAME is not set (run through azd, or export it)." >&2
  exit 1
fi
location=${AZURE_LOCATION:-}
if [ -z "$location" ] && command -v azd >/dev/null 2>&1; then
  location=$(azd env get-value AZURE_LOCATION 2>/dev/null || true)
fi
if [ -z "$location" ]; then
  echo "preprovision: AZURE_LOCATION is not set, so no deleted Key Vault can be told to be this deployment's; nothing recovered."
  exit 0
fi
if ! command -v az >/dev/null 2>&1; then
  echo "preprovision: the Azure CLI (az) is required to look for a soft-deleted Key Vault." >&2
  exit 1
fi

subscription=${AZURE_SUBSCRIPTION_ID:+--subscription $AZURE_SUBSCRIPTION_ID}
lower() { printf '%s' "$1" | tr '[:upper:]' '[:lower:]' | tr -d ' '; }
want_group=$(lower "rg-$env_name")
want_location=$(lower "$location")

# name <tab> location <tab> vault id (/subscriptions/.../resourceGroups/<rg>/providers/...)
# shellcheck disable=SC2086
deleted=$(az keyvault list-deleted $subscription --resource-type vault \
  --query "[?starts_with(name, 'kv-') && properties.tags.\"azd-env-name\"=='$env_name'].[name, properties.location, properties.vaultId]" \
  --output tsv)

if [ -z "$deleted" ]; then
  echo "preprovision: no soft-deleted Key Vault for environment $env_name; nothing to recover."
  exit 0
fi

printf '%s\n' "$deleted" | while IFS="$(printf '\t')" read -r name vault_location vault_id; do
  [ -n "$name" ] || continue
  resource_group=$(printf '%s' "$vault_id" | sed -n 's#.*/resourceGroups/\([^/]*\)/.*#\1#p')
  if [ -z "$resource_group" ]; then
    echo "preprovision: cannot tell the resource group of deleted vault $name ($vault_id)." >&2
    exit 1
  fi
  if [ "$(lower "$resource_group")" != "$want_group" ] || [ "$(lower "$vault_location")" != "$want_location" ]; then
    echo "preprovision: leaving deleted Key Vault $name alone: it was in $resource_group ($vault_location), this deployment is rg-$env_name ($location)."
    continue
  fi
  echo "preprovision: recovering soft-deleted Key Vault $name into $resource_group ($vault_location)..."
  # shellcheck disable=SC2086
  az group create $subscription --name "$resource_group" --location "$vault_location" \
    --tags "azd-env-name=$env_name" --output none
  # shellcheck disable=SC2086
  az keyvault recover $subscription --name "$name" --resource-group "$resource_group" --location "$vault_location" \
    --output none
  echo "preprovision: Key Vault $name recovered; provisioning will update it."
done
