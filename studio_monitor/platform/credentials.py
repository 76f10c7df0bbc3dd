"""Where a client finds its hub token: a token file, the environment, or the OS keyring.

`resolve_token` looks in that order (PROTOCOL.md leaves this to the project; DESIGN.md puts
tokens in the OS keyring): the file named by `--token-file` (an explicit choice, so a missing
or empty file is an error rather than a reason to look elsewhere), then the
`STUDIO_MONITOR_TOKEN` environment variable, then the keyring entry of service
`studio-monitor` whose user name is the normalised hub URL. The keyring sits behind the small
`Keyring` interface with a null implementation, chosen by `default_keyring()`: a machine with
no keyring backend (a headless Linux box, CI) gets `NullKeyring` and a clear sentence instead
of a `keyring` exception. Every failure is a `ConfigError` whose message says what to do.
"""

from __future__ import annotations

import abc
import os
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from studio_monitor.errors import ConfigError

SERVICE = "studio-monitor"
ENV_VAR = "STUDIO_MONITOR_TOKEN"

# A token travels in an `Authorization: Bearer` header, so it must be printable ASCII with
# no spaces; anything else is a wrong file (a tokens TOML, a certificate) rather than a token.
_TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + string.punctuation)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEME_ALIASES = {"ws": "http", "wss": "https"}


class KeyringUnavailable(ConfigError):
    """The OS keyring cannot be used here (no backend, locked, refused access)."""


class TokenNotFound(ConfigError):
    """No token in any of the three places (as opposed to a token file or value that is wrong)."""


class Keyring(abc.ABC):
    """The few keyring operations the app needs. Implementations raise only `KeyringUnavailable`."""

    #: A few words for messages: "the OS keyring (SecretService)", "no OS keyring".
    description: str = ""

    @abc.abstractmethod
    def get(self, service: str, username: str) -> str | None:
        """The stored secret, or None when there is none."""

    @abc.abstractmethod
    def set(self, service: str, username: str, secret: str) -> None:
        """Store (or replace) a secret."""

    @abc.abstractmethod
    def delete(self, service: str, username: str) -> bool:
        """Remove a secret; False when there was none."""


class NullKeyring(Keyring):
    """No keyring on this machine: nothing is found, and storing says so clearly."""

    def __init__(self, reason: str = "no OS keyring is available on this machine") -> None:
        self.reason = reason
        self.description = f"no OS keyring ({reason})"

    def get(self, service: str, username: str) -> str | None:
        return None

    def set(self, service: str, username: str, secret: str) -> None:
        raise KeyringUnavailable(
            f"cannot store the token: {self.reason}; "
            f"give it with --token-file or the {ENV_VAR} environment variable instead"
        )

    def delete(self, service: str, username: str) -> bool:
        return False


class MemoryKeyring(Keyring):
    """A keyring held in a dict: for tests, and for sessions that must not touch the OS keyring."""

    description = "the in-memory keyring"

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    def get(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set(self, service: str, username: str, secret: str) -> None:
        self.entries[(service, username)] = secret

    def delete(self, service: str, username: str) -> bool:
        return self.entries.pop((service, username), None) is not None


class SystemKeyring(Keyring):
    """The OS keyring through the `keyring` package (Windows Credential Manager, macOS
    Keychain, SecretService). Any backend error, including the D-Bus and access-denied
    errors some backends raise outside `keyring.errors`, becomes `KeyringUnavailable`."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self.description = f"the OS keyring ({type(backend).__name__})"

    def get(self, service: str, username: str) -> str | None:
        try:
            secret = self._backend.get_password(service, username)
        except Exception as exc:
            raise KeyringUnavailable(f"could not read {self.description}: {_say(exc)}") from exc
        return secret if isinstance(secret, str) else None

    def set(self, service: str, username: str, secret: str) -> None:
        try:
            self._backend.set_password(service, username, secret)
        except Exception as exc:
            raise KeyringUnavailable(
                f"could not store the token in {self.description}: {_say(exc)}"
            ) from exc

    def delete(self, service: str, username: str) -> bool:
        import keyring.errors

        try:
            self._backend.delete_password(service, username)
        except keyring.errors.PasswordDeleteError:
            return False  # nothing stored under that name
        except Exception as exc:
            raise KeyringUnavailable(
                f"could not delete the token from {self.description}: {_say(exc)}"
            ) from exc
        return True


def default_keyring() -> Keyring:
    """The OS keyring when a usable backend exists, else `NullKeyring` saying why."""
    try:
        # Imported here: `keyring` scans its backends at import, which costs time that
        # commands such as `hub` never need.
        import keyring
        import keyring.backends.fail

        backend = keyring.get_keyring()
    except Exception as exc:
        return NullKeyring(f"the keyring library failed to start: {_say(exc)}")
    if isinstance(backend, keyring.backends.fail.Keyring):
        return NullKeyring("no keyring backend is installed or running on this machine")
    return SystemKeyring(backend)


def normalise_hub_url(hub_url: str) -> str:
    """The keyring user name for a hub: scheme and host in lower case, `ws` read as `http`,
    no default port, no trailing slash, no query. `HTTP://Hub.local:80/` and
    `ws://hub.local` both give `http://hub.local`, so they find the same token."""
    text = hub_url.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    scheme = _SCHEME_ALIASES.get(parts.scheme.lower(), parts.scheme.lower())
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ConfigError(f"{hub_url!r} is not a hub address such as http://studio-hub:8765")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{hub_url!r} has an invalid port number") from None
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = parts.path.rstrip("/")
    return f"{scheme}://{netloc}{path}"


def check_token(token: str, origin: str) -> str:
    """`token` stripped, or `ConfigError` naming `origin` when it cannot be a token."""
    token = token.strip()
    if not token:
        raise ConfigError(f"{origin} is empty")
    if not set(token) <= _TOKEN_CHARS:
        raise ConfigError(
            f"{origin} does not look like a token: it holds spaces, line breaks or "
            "non-ASCII characters (a token is one line of letters, digits and punctuation)"
        )
    return token


def read_token_file(path: Path) -> str:
    """The token in `path`, stripped; `ConfigError` when missing, unreadable or empty."""
    origin = f"token file {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{origin} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{origin} is a folder, not a file") from None
    except PermissionError:
        raise ConfigError(f"{origin} cannot be read: permission denied") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{origin} is not a text file") from None
    except OSError as exc:
        raise ConfigError(f"{origin} cannot be read: {exc.strerror or exc}") from None
    return check_token(text, origin)


def resolve_token(
    token_file: Path | None,
    hub_url: str,
    *,
    environ: Mapping[str, str] | None = None,
    keyring: Keyring | None = None,
) -> str:
    """The token for `hub_url`: from `token_file`, else `STUDIO_MONITOR_TOKEN`, else the keyring.

    `environ` and `keyring` default to the real ones; tests pass their own. An empty
    environment variable counts as unset (`STUDIO_MONITOR_TOKEN= cmd` is how a shell unsets).
    """
    if token_file is not None:
        return read_token_file(token_file)
    env = os.environ if environ is None else environ
    from_env = env.get(ENV_VAR, "")
    if from_env.strip():
        return check_token(from_env, f"the {ENV_VAR} environment variable")
    username = normalise_hub_url(hub_url)
    ring = default_keyring() if keyring is None else keyring
    try:
        stored = ring.get(SERVICE, username)
    except KeyringUnavailable as exc:
        keyring_said = str(exc)
    else:
        if stored is not None and stored.strip():
            return check_token(stored, f"the keyring entry for {username}")
        if isinstance(ring, NullKeyring):
            keyring_said = f"there is no OS keyring to look in ({ring.reason})"
        else:
            keyring_said = f"{ring.description} has no token for it"
    raise TokenNotFound(
        f"no token for {username}: no --token-file was given, {ENV_VAR} is not set, "
        f"and {keyring_said}. Give the token with --token-file FILE, set {ENV_VAR}, "
        "or store it in the keyring with `studio-monitor setup`"
    )


def store_token(hub_url: str, token: str, *, keyring: Keyring | None = None) -> None:
    """Keep `token` in the keyring for `hub_url` (replacing any older one)."""
    token = check_token(token, "the token")
    ring = default_keyring() if keyring is None else keyring
    ring.set(SERVICE, normalise_hub_url(hub_url), token)


def delete_token(hub_url: str, *, keyring: Keyring | None = None) -> bool:
    """Forget the keyring's token for `hub_url`; False when none was stored."""
    ring = default_keyring() if keyring is None else keyring
    return ring.delete(SERVICE, normalise_hub_url(hub_url))


def _say(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
