#!/bin/sh
# prerm (deb) / %preun (rpm) of @PACKAGE@, rendered by packaging/build.py.
# On removal (not on upgrade) stops and disables the package's units while their files exist.
set -e

PACKAGE=@PACKAGE@
ROOT="${DPKG_ROOT:-}"

case "$1" in
    remove | 0) ;;  # deb: remove; rpm: 0 = erase (1 = upgrade)
    *) exit 0 ;;
esac

if [ "$PACKAGE" = commaudit-collector ]; then
    units="commaudit-summaries.timer commaudit-summaries.service commaudit-collector.service"
else
    units="commaudit-agent.service"
fi
if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
    # shellcheck disable=SC2086 # one word per unit
    systemctl --no-reload disable --now $units || true
fi
exit 0
