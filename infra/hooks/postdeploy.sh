#!/bin/sh
# azd postdeploy hook (POSIX): subscribe the function to blob events.
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
set -eu

here=$(cd "$(dirname "$0")" && pwd)
template="$here/../modules/eventgrid-subscription.bicep"

value() {
  # $1: name of an azd environment value (a main.bicep output)
  eval "current=\${$1:-}"
  if [ -z "$current" ] && command -v azd >/dev/null 2>&1; then
    current=$(azd env get-value "$1" 2>/dev/null || true)
  fi
  if [ -z "$current" ]; then
    echo "postdeploy: $1 is not set; run 'azd provision' first (or export it)." >&2
    exit 1
  fi
  printf '%s' "$current"
}

if ! command -v az >/dev/null 2>&1; then
  echo "postdeploy: the Azure CLI (az) is required to create the Event Grid subscription." >&2
  exit 1
fi

subscription_id=$(value AZURE_SUBSCRIPTION_ID)
resource_group=$(value AZURE_RESOURCE_GROUP)
function_app=$(value AZURE_FUNCTION_APP_NAME)
storage_account=$(value AZURE_STORAGE_ACCOUNT_NAME)
system_topic=$(value EVENTGRID_SYSTEM_TOPIC_NAME)
incoming_container=$(value THUMBNAILS_CONTAINER_NAME)
eventgrid_deadletter_container=$(value EVENTGRID_DEADLETTER_CONTAINER_NAME)

# 1. Wait for the blobs_extension system key (only whether it exists is asked; it is not printed).
attempts=40
attempt=1
while :; do
  exists=$(az functionapp keys list \
    --subscription "$subscription_id" --resource-group "$resource_group" --name "$function_app" \
    --query "systemKeys.blobs_extension != null" --output tsv 2>/dev/null || echo false)
  if [ "$exists" = "true" ]; then
    break
  fi
  if [ "$attempt" -ge "$attempts" ]; then
    echo "postdeploy: no blobs_extension key on $function_app after $attempts tries; is the blob trigger deployed and the host starting? Re-run: sh infra/hooks/postdeploy.sh" >&2
    exit 1
  fi
  echo "postdeploy: waiting for the function host to create its blobs_extension key ($attempt/$attempts)..."
  attempt=$((attempt + 1))
  sleep 15
done

# 2. Create or update the subscription.  Event Grid validates the webhook when it is created, which
#    fails while the host is still starting: retry a few times.
attempts=5
attempt=1
while :; do
  if az deployment group create \
    --subscription "$subscription_id" \
    --resource-group "$resource_group" \
    --name thumbnail-drop-eventgrid-subscription \
    --template-file "$template" \
    --parameters \
      systemTopicName="$system_topic" \
      functionAppName="$function_app" \
      storageAccountName="$storage_account" \
      incomingContainerName="$incoming_container" \
      eventGridDeadletterContainerName="$eventgrid_deadletter_container" \
    --output none; then
    echo "postdeploy: Event Grid subscription on $system_topic feeds $function_app."
    exit 0
  fi
  if [ "$attempt" -ge "$attempts" ]; then
    echo "postdeploy: could not create the Event Grid subscription after $attempts tries." >&2
    exit 1
  fi
  echo "postdeploy: webhook not ready yet, retrying in 30 s ($attempt/$attempts)..."
  attempt=$((attempt + 1))
  sleep 30
done
