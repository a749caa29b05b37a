"""Whether a Docker engine answers here (testcontainers needs one; these machines have none)."""

from __future__ import annotations

import functools

__all__ = ["docker_available"]


@functools.cache
def docker_available() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
    except Exception:  # no engine, no socket, no permission
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()
