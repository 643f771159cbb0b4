"""The collector's soft limit on open files, raised to its hard limit when it starts serving.

Why: every connected device holds a socket, and the accept loops hold SERVERS_PER_PORT listening
sockets besides (server_group.py). A process started from a shell usually gets a soft limit of
1,024, which would refuse devices beyond ~700 with "Too many open files" while its hard limit
allows far more. Raising the soft limit up to the hard one needs no privilege (Go's runtime has
done the same for every program since 1.19). The systemd unit sets both to 65,536
(packaging/systemd/commaudit-collector.service), so there this changes nothing.

POSIX only: Windows has no such limit for sockets, and Python no `resource` module there.
"""

from __future__ import annotations

import logging

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


def raise_soft_limit() -> int | None:
    """Set the soft RLIMIT_NOFILE to the hard one; the soft limit now in force (None where
    there is none). A hard limit the kernel will not grant as a soft one (unlimited, above
    fs.nr_open) leaves the soft limit as it was."""
    if resource is None:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard or soft == resource.RLIM_INFINITY:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (OSError, ValueError) as exc:
        log.warning("open files: soft limit stays %d (raising it to %d: %s)", soft, hard, exc)
        return soft
    log.info("open files: soft limit raised from %d to %d", soft, hard)
    return hard
