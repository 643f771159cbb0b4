#!/bin/sh
# postrm (deb) / %postun (rpm) of @PACKAGE@, rendered by packaging/build.py.
# The virtual environment is not one of the package's files (postinst made it), so it goes here:
# removed with the last commaudit package, or rebuilt for the agent when only the collector
# leaves. Purge (deb only; rpm has none) also removes the collector's user, or the agent's
# credential and spool. The collector's database in /var/lib/commaudit is never removed: it is
# the organisation's audit record, and deleting it takes a person's decision.
set -e

PACKAGE=@PACKAGE@
ROOT="${DPKG_ROOT:-}"
WHEELS="$ROOT/opt/commaudit/wheels"
VENV="$ROOT/opt/commaudit/venv"

case "$1" in
    remove | purge | 0) ;;  # deb: remove, purge; rpm: 0 = erase (1 = upgrade)
    *) exit 0 ;;
esac

if [ "$1" != purge ]; then  # a purge follows a remove, which did this already
    if [ -d "$WHEELS/commaudit-collector" ]; then
        :  # the collector stays, and its environment serves the agent too
    elif [ -d "$WHEELS/commaudit-agent" ]; then
        # The collector left and the agent stays: back to the agent's own set, nothing more.
        /usr/bin/python3 -m venv --clear "$VENV"
        "$VENV/bin/python" -m pip install --quiet --no-index --disable-pip-version-check \
            --no-cache-dir --find-links "$WHEELS/commaudit-agent" commaudit
    else
        rm -rf "$VENV"
        rmdir "$WHEELS" "$ROOT/opt/commaudit" 2>/dev/null || true
    fi
fi

if [ "$1" = purge ]; then
    if [ "$PACKAGE" = commaudit-collector ]; then
        if [ -n "$ROOT" ]; then
            userdel --prefix "$ROOT" commaudit 2>/dev/null || true
            groupdel --prefix "$ROOT" commaudit 2>/dev/null || true
        else
            userdel commaudit 2>/dev/null || true
            groupdel commaudit 2>/dev/null || true
        fi
    else
        rm -rf "$ROOT/var/lib/commaudit-agent"
    fi
    rmdir "$ROOT/etc/commaudit" 2>/dev/null || true
fi

if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
fi
exit 0
