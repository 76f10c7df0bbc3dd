"""Where the hub is, and how this PC trusts its certificate.

`HubAddress.parse()` turns what a person types (`hub.local:8765`, `https://hub/studio`,
even `ws://...`) into the hub's HTTP base URL and its WebSocket URL, or a `ConfigError` that
says what is wrong with it. `make_ssl_context()` builds the TLS verification the whole app
uses (the link's transports, the check suite, the agent): the system's roots, certifi's,
and a studio's own certificate when one is given. No I/O beyond reading that file.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from studio_monitor.errors import ConfigError


@dataclass(frozen=True, slots=True)
class HubAddress:
    """Where the hub is: `http(s)://host:port/prefix` and the matching `ws(s)://.../ws`."""

    scheme: Literal["http", "https"]
    host: str
    port: int
    prefix: str

    @classmethod
    def parse(cls, url: str) -> HubAddress:
        text = url.strip()
        if "://" not in text:
            text = "http://" + text
        parts = urlsplit(text)
        scheme = {"ws": "http", "wss": "https"}.get(parts.scheme.lower(), parts.scheme.lower())
        if scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"{url!r} is not a hub address: use http://HOST:PORT or https://HOST:PORT"
            )
        if parts.query or parts.fragment:
            raise ConfigError(f"{url!r}: a hub address has no ?query or #fragment")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"{url!r} has an invalid port number") from None
        return cls(
            scheme="https" if scheme == "https" else "http",
            host=parts.hostname,
            port=port if port is not None else (443 if scheme == "https" else 80),
            prefix=parts.path.rstrip("/"),
        )

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.prefix}"

    @property
    def ws_url(self) -> str:
        ws_scheme = "wss" if self.scheme == "https" else "ws"
        return f"{ws_scheme}://{self.netloc}{self.prefix}/ws"


def make_ssl_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """Verification as the app does it: the system's trusted roots plus certifi's (httpx's
    default store, which matters on macOS builds without system roots), plus `ca_file` (a
    studio's self-signed hub certificate or its own CA) when given."""
    context = ssl.create_default_context()
    try:
        import certifi

        context.load_verify_locations(certifi.where())
    except (ImportError, OSError, ssl.SSLError):
        pass  # the system store alone still works on most machines
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except FileNotFoundError:
            raise ConfigError(f"certificate file {ca_file} does not exist") from None
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"certificate file {ca_file} could not be loaded as a PEM certificate: {exc}"
            ) from None
    return context
