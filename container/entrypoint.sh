#!/bin/sh
# The image's entrypoint (docs/how-to/container.md): read secrets given as NAME_FILE, take the umask,
# the time zone and the user to run as (PUID/PGID, else the owner of /inbox), find the config (a
# mounted /config/config.toml, else one made from PQDROP_* variables), then become pqdrop as that
# user (PID 1, so stop signals reach it).
set -eu

say() { printf 'pqdrop-entrypoint: %s\n' "$*" >&2; }
refuse() { say "$*"; exit 2; }  # 2: an unusable setting, as pqdrop's own exit status says it

# NAME_FILE=path stands for NAME=<the file's text> (the docker secrets convention), for any NAME. The
# API key is handed over like systemd's LoadCredential=, never put in the environment.
secret=""
for name in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)_FILE=.*/\1/p'); do
    eval "file=\${${name}_FILE}"
    if eval "[ -n \"\${${name}+set}\" ]"; then
        refuse "both $name and ${name}_FILE are set; keep one of them"
    fi
    [ -f "$file" ] && [ -r "$file" ] || refuse "${name}_FILE=$file: there is no readable file there; mount it (a secret, or -v FILE:$file:ro)"
    if [ "$name" = POSTQUED_API_KEY ]; then
        secret=$file
    else
        value=$(cat "$file")
        export "$name=$value"
    fi
    unset "${name}_FILE"
done
if [ -z "$secret" ] && [ -z "${POSTQUED_API_KEY:-}" ] && [ -f /run/secrets/postqued_api_key ]; then
    secret=/run/secrets/postqued_api_key  # a compose secret named postqued_api_key, with no variable at all
fi

case "${UMASK:=002}" in
    [0-7][0-7][0-7] | [0-7][0-7][0-7][0-7]) umask "$UMASK" ;;
    *) refuse "UMASK=$UMASK is not a umask; write three octal digits, e.g. 002 (group may write) or 022" ;;
esac

TZ=${TZ#:}
if [ -n "$TZ" ] && [ ! -f "/usr/share/zoneinfo/$TZ" ]; then
    refuse "TZ=$TZ is not a time zone; use a name such as Europe/Berlin or America/Los_Angeles"
fi
export TZ

# The config: the mounted file, else (an image of an older layout) /etc/pqdrop/config.toml, else
# one written from the environment.
asked=${PQDROP_CONFIG:-/config/config.toml}
config=$asked
if [ ! -e "$config" ] && [ -f /etc/pqdrop/config.toml ] && [ ! -L /etc/pqdrop/config.toml ]; then
    config=/etc/pqdrop/config.toml  # mounted there, as the image once asked
fi
if [ ! -e "$config" ]; then
    if [ "$(id -u)" = 0 ]; then
        made=/run/pqdrop && install -d -m 0755 "$made"
    else
        made=$(mktemp -d) && chmod 0755 "$made"
    fi
    /opt/pqdrop/bin/python /usr/local/lib/pqdrop/config_from_env.py > "$made/config.toml" || exit 2
    config=$made/config.toml
    say "no $asked: the settings come from the environment (PQDROP_*, TZ), written to $config"
else
    unused=$(env | sed -n 's/^\(PQDROP_\(DEFAULT\|INBOX\|POSTQUED\|UPLOAD\|NOTIFY\|HTTP\)_[A-Za-z0-9_]*\)=.*/\1/p' | tr '\n' ' ')
    [ -z "$unused" ] || say "the config is $config; these variables stand in for one and are not used: ${unused% }"
fi
export PQDROP_CONFIG="$config"
# `docker exec … pqdrop status` reads the same file: /etc/pqdrop/config.toml is where pqdrop looks last.
if [ "$config" != /etc/pqdrop/config.toml ] && [ "$(id -u)" = 0 ]; then
    mkdir -p /etc/pqdrop && ln -sf "$config" /etc/pqdrop/config.toml
fi

if [ "$(id -u)" != 0 ]; then
    # Started with --user: no switching, the secret must already be readable by that user.
    if [ -n "$secret" ]; then
        CREDENTIALS_DIRECTORY=$(mktemp -d)
        export CREDENTIALS_DIRECTORY
        install -m 0400 "$secret" "$CREDENTIALS_DIRECTORY/postqued_api_key"
    fi
    exec "$@"
fi

# Run as the inbox's owner unless told otherwise: what pqdrop files stays theirs.
PUID=${PUID:-$(stat -c %u /inbox)}
PGID=${PGID:-$(stat -c %g /inbox)}
case "$PUID:$PGID" in
    *[!0-9:]* | :* | *:) refuse "PUID=$PUID PGID=$PGID: both must be numeric ids, e.g. PUID=1026 PGID=100 (id -u, id -g)" ;;
esac
export PUID PGID

# A secret file is often root's (docker/podman secrets, a 0600 bind mount): copy it for the
# daemon's user alone, into the folder pqdrop reads systemd credentials from.
if [ -n "$secret" ]; then
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
