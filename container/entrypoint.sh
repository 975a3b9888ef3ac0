#!/bin/sh
# The image's entrypoint: hand the key over like systemd's LoadCredential, take the NAS user's
# uid/gid (PUID/PGID), then become pqdrop as that user (PID 1, so stop signals reach it).
set -eu

secret=${POSTQUED_API_KEY_FILE:-/run/secrets/postqued_api_key}

if [ "$(id -u)" != 0 ]; then
    # Started with --user: no switching, the secret must already be readable by that user.
    if [ -z "${POSTQUED_API_KEY:-}" ] && [ -r "$secret" ]; then
        CREDENTIALS_DIRECTORY=$(mktemp -d)
        export CREDENTIALS_DIRECTORY
        install -m 0400 "$secret" "$CREDENTIALS_DIRECTORY/postqued_api_key"
    fi
    exec "$@"
fi

# A secret file is often root's (docker/podman secrets, a 0600 bind mount): copy it for the
# daemon's user alone, into the folder pqdrop reads systemd credentials from.
if [ -z "${POSTQUED_API_KEY:-}" ] && [ -f "$secret" ]; then
    credentials=/run/pqdrop-credentials
    install -d -m 0500 -o "$PUID" -g "$PGID" "$credentials"
    install -m 0400 -o "$PUID" -g "$PGID" "$secret" "$credentials/postqued_api_key"
    export CREDENTIALS_DIRECTORY="$credentials"
fi

# The journal belongs to the daemon's user; the inbox stays as its owner made it.
if [ "$(stat -c %u:%g /state)" != "$PUID:$PGID" ]; then
    chown -R "$PUID:$PGID" /state
fi
export HOME=/state
exec setpriv --reuid="$PUID" --regid="$PGID" --clear-groups -- "$@"
