"""A throwaway PostgreSQL server on loopback for the persistence tests (when PostgreSQL is installed).

``POSMAN_TEST_PG_URL`` wins when set. Otherwise, if the ``initdb``/``pg_ctl`` binaries of an installed
PostgreSQL are found (Debian: ``/usr/lib/postgresql/<v>/bin``), a fresh cluster is created in a temp
directory with trust auth on 127.0.0.1 and a free port, and stopped at the end. PostgreSQL refuses to run
as root: as root, the cluster is run as the ``postgres`` system user (created by the Debian package).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def local_postgres() -> Iterator[str | None]:
    """Yield a SQLAlchemy URL of a fresh server, or None when PostgreSQL (or psycopg) is not available."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        yield None
        return
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not initdb or not pg_ctl:
        yield None
        return
    user: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            yield None
            return
    root = tempfile.mkdtemp(prefix="posman-pg-")
    data, sock = os.path.join(root, "data"), os.path.join(root, "sock")
    os.makedirs(sock)
    if user is not None:
        for path in (root, sock):
            os.chown(path, user.pw_uid, user.pw_gid)

    def as_owner() -> None:
        if user is not None:
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)

    port = _free_port()
    env = {**os.environ, "LC_ALL": "C"}
    started = False
    try:
        subprocess.run([initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"], check=True,
                       capture_output=True, preexec_fn=as_owner, env=env, timeout=120)
        subprocess.run([pg_ctl, "-D", data, "-l", os.path.join(root, "log"), "-w", "-t", "60", "-o",
                        f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       check=True, capture_output=True, preexec_fn=as_owner, env=env, timeout=90)
        started = True
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    except (subprocess.SubprocessError, OSError):
        if not started:
            yield None
    finally:
        if started:
            subprocess.run([pg_ctl, "-D", data, "-m", "fast", "-w", "stop"], capture_output=True,
                           preexec_fn=as_owner, env=env, timeout=60, check=False)
        shutil.rmtree(root, ignore_errors=True)
        time.sleep(0)
