"""Whether a Docker engine answers here (testcontainers needs one; these machines have none)."""

from __future__ import annotations

import functools

__all__ = ["docker_available"]


@functools.cache
def docker_available() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
    except Exception:  # noqa: BLE001 - no engine, no socket, no permission: each means no Docker
        return False
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001 - an engine that does not answer is no engine
        return False
    finally:
        client.close()
