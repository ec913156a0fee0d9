#!/usr/bin/env bash
# Seeds the moto IAM of deploy/docker-compose.yml with the users of scripts/demo-users.tsv (0, 1
# and 2 active access keys; scripts/demo seeds the same). Runs in the amazon/aws-cli image, with
# the file mounted at /demo-users.tsv; users that already exist are left alone, so
# `docker compose up` can run it again while moto keeps its state.
#   seed.sh [USERS_FILE]    default /demo-users.tsv
set -euo pipefail
users_file=${1:-/demo-users.tsv}

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

[ -r "$users_file" ] || { echo "seed: cannot read $users_file" >&2; exit 2; }
line=0
# Read on fd 3: the aws commands in the loop must not eat the file from stdin.
while read -r -u 3 name path active inactive extra; do
  line=$((line + 1))
  case $name in '' | '#'*) continue ;; esac
  if [ -z "$inactive" ] || [ -n "$extra" ] || ! [[ $active$inactive =~ ^[0-9]+$ ]]; then
    echo "seed: $users_file:$line: expected NAME PATH ACTIVE INACTIVE" >&2
    exit 2
  fi
  user "$name" "$path" "$active" "$inactive"
done 3<"$users_file"
