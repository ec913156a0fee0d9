#!/usr/bin/env bash
# Seeds the moto IAM of deploy/docker-compose.yml with users holding 0, 1 and 2 active access keys
# (the same users as scripts/demo). Runs in the amazon/aws-cli image; users that already exist are
# left alone, so `docker compose up` can run it again while moto keeps its state.
set -euo pipefail

# user NAME PATH ACTIVE INACTIVE
user() {
  local name=$1 path=$2 active=$3 inactive=$4 id i
  if aws iam get-user --user-name "$name" >/dev/null 2>&1; then
    echo "seed: $name exists already"
    return
  fi
  aws iam create-user --user-name "$name" --path "$path" >/dev/null
  for ((i = 0; i < active + inactive; i++)); do
    # Only the key ID is kept: the (fake) secret never reaches the log.
    id=$(aws iam create-access-key --user-name "$name" --query AccessKey.AccessKeyId --output text)
    if ((i >= active)); then
      aws iam update-access-key --user-name "$name" --access-key-id "$id" --status Inactive
    fi
  done
  echo "seed: $name ($path): $active active, $inactive inactive"
}

user alice / 0 0
user bob / 1 0
user carol / 2 0
user dave / 1 1
user ci+deploy@example.com /automation/ 2 0
