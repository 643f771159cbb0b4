#!/bin/sh
# postinst (deb) / %post (rpm) of @PACKAGE@, rendered by packaging/build.py.
# Makes the service's user and directories, then the virtual environment at /opt/commaudit/venv
# from the wheels this package ships (offline: no index is ever asked). packaging/README.md says
# why the environment is made here and not shipped ready-made.
# Honours $DPKG_ROOT (dpkg --root ... --force-script-chrootless): every path is under it.
set -e

PACKAGE=@PACKAGE@
VERSION=@VERSION@
ROOT="${DPKG_ROOT:-}"
WHEELS="$ROOT/opt/commaudit/wheels"
VENV="$ROOT/opt/commaudit/venv"

case "$1" in
    configure | 1 | 2) ;;  # deb: configure; rpm: 1 = install, 2 = upgrade
    *) exit 0 ;;  # abort-* : the previous version is still configured
esac

known() {  # known passwd|group NAME: in the target root's files, or NSS on a live system
    if [ -n "$ROOT" ]; then grep -q "^$2:" "$ROOT/etc/$1"; else getent "$1" "$2" >/dev/null; fi
}

id_of() {  # id_of passwd|group NAME: its numeric id, read the same way as `known`
    if [ -n "$ROOT" ]; then
        awk -F: -v n="$2" '$1 == n { print $3 }' "$ROOT/etc/$1"
    else
        getent "$1" "$2" | cut -d: -f3
    fi
}

if [ "$PACKAGE" = commaudit-collector ]; then
    # A dedicated system user: the collector and its timer run as it and own nothing else.
    known group commaudit || groupadd ${ROOT:+--prefix "$ROOT"} --system commaudit
    known passwd commaudit || useradd ${ROOT:+--prefix "$ROOT"} --system --gid commaudit \
        --home-dir /var/lib/commaudit --no-create-home --shell /usr/sbin/nologin \
        --comment "commaudit collector" commaudit
    install -d -m 0750 "$ROOT/var/lib/commaudit"
    chown "$(id_of passwd commaudit):$(id_of group commaudit)" "$ROOT/var/lib/commaudit"
    # Settings are readable by the service; the admin connection file lives in the state dir.
    install -d -m 0755 "$ROOT/etc/commaudit"
else
    # The agent's enrollment credential and spool: root's alone.
    install -d -m 0711 "$ROOT/var/lib/commaudit-agent"
    install -d -m 0755 "$ROOT/etc/commaudit"
fi

# One environment serves both packages: the collector's wheels are a superset of the agent's
# (the same distribution with the [server] extra), so while the collector is installed its set
# is the one in the environment, and the agent's postinst leaves it alone.
if [ -d "$WHEELS/commaudit-collector" ]; then
    wheels="$WHEELS/commaudit-collector"
    requirement="commaudit[server]==$VERSION"
else
    wheels="$WHEELS/commaudit-agent"
    requirement="commaudit==$VERSION"
fi
if [ "$PACKAGE" = commaudit-collector ] || [ "$wheels" = "$WHEELS/commaudit-agent" ]; then
    # The interpreter this package depends on (not whichever python3 is first on PATH): the
    # wheels were built for its version. --clear: nothing of a previous version survives.
    /usr/bin/python3 -m venv --clear "$VENV"
    "$VENV/bin/python" -m pip install --quiet --no-index --disable-pip-version-check \
        --no-cache-dir --find-links "$wheels" "$requirement"
fi

if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    # After an upgrade a running service restarts on the new code; a stopped one stays stopped.
    if [ "$PACKAGE" = commaudit-collector ]; then
        systemctl try-restart commaudit-collector.service || true
    else
        systemctl try-restart commaudit-agent.service || true
    fi
fi
exit 0
