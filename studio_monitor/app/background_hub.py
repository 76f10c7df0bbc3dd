"""The embedded hub kept running without the app: what is handed over, and how to find it again.

At quit, the app may hand its hub over to a per-user background service
(`platform/background.py`): the same command as the embedded hub's, on the same data folder
(so the same store, events and manifests) and a fixed port on 127.0.0.1, without
`--exit-on-stdin-close` and without the one-time token. The hub then uses the operator token
of its own `tokens.toml` (created 0600 in the data folder on its first start), which the app
reads back as the same user. `background.json` in the data folder records the port; its
presence (with the service installed) is what makes the next start connect instead of
starting a child hub.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from studio_monitor.errors import ConfigError
from studio_monitor.hub.config import TOKENS_FILE_NAME, ensure_tokens_file, load_tokens
from studio_monitor.platform.autostart import app_command

MARKER_FILE: Final = "background.json"


@dataclass(frozen=True)
class BackgroundHub:
    port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, base: Sequence[str] | None = None) -> list[str]:
        return [
            *(base if base is not None else app_command()),
            "hub",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]

    def token(self) -> str:
        """The operator token of the hub's own tokens file (created now if missing, so the
        app and the hub agree on it before the hub first runs)."""
        path, _created = ensure_tokens_file(self.data_dir)
        for spec in load_tokens(path):
            if "operator" in spec.roles:
                return spec.secret
        raise ConfigError(f"{path}: no token with the operator role")

    def save(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / MARKER_FILE
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"port": self.port}), encoding="utf-8")
        os.replace(tmp, path)

    @staticmethod
    def load(data_dir: Path) -> BackgroundHub | None:
        try:
            value = json.loads((data_dir / MARKER_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        port = value.get("port") if isinstance(value, dict) else None
        if not isinstance(port, int) or not 0 < port < 65536:
            return None
        return BackgroundHub(port, data_dir)

    @staticmethod
    def forget(data_dir: Path) -> None:
        with contextlib.suppress(OSError):
            (data_dir / MARKER_FILE).unlink()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


__all__ = ["MARKER_FILE", "TOKENS_FILE_NAME", "BackgroundHub", "free_port"]
