"""Token lookup: file, then environment, then keyring; clear errors; keyring faults translated."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest

from studio_monitor.errors import ConfigError
from studio_monitor.platform.credentials import (
    ENV_VAR,
    SERVICE,
    KeyringUnavailable,
    MemoryKeyring,
    NullKeyring,
    SystemKeyring,
    default_keyring,
    delete_token,
    normalise_hub_url,
    resolve_token,
    store_token,
)
from tests.support.portable import is_root

HUB = "http://studio-hub:8765"


class BrokenBackend:
    """A keyring backend that fails like a locked or unreachable SecretService does: with
    exceptions that are not `keyring.errors` types."""

    def get_password(self, service: str, username: str) -> str | None:
        raise OSError("org.freedesktop.DBus.Error.ServiceUnknown")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError("keyring is locked")

    def delete_password(self, service: str, username: str) -> None:
        raise RuntimeError("keyring is locked")


def test_token_file_wins_and_is_stripped(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("  s3cr3t-token\n", encoding="utf-8")
    ring = MemoryKeyring()
    store_token(HUB, "from-keyring", keyring=ring)
    token = resolve_token(token_file, HUB, environ={ENV_VAR: "from-env"}, keyring=ring)
    assert token == "s3cr3t-token"


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.write_text(" \n\n", encoding="utf-8"), "is empty"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: p.write_bytes(b"\xff\xfe\x00bad"), "not a text file"),
        (
            lambda p: p.write_text('[[tokens]]\nname = "x"\n', encoding="utf-8"),
            "does not look like a token",
        ),
    ],
    ids=["missing", "empty", "folder", "binary", "toml"],
)
def test_bad_token_file_is_a_clear_error_and_does_not_fall_through(
    tmp_path: Path, setup: Callable[[Path], object], expected: str
) -> None:
    token_file = tmp_path / "token"
    setup(token_file)
    with pytest.raises(ConfigError, match=expected) as info:
        resolve_token(token_file, HUB, environ={ENV_VAR: "from-env"}, keyring=MemoryKeyring())
    assert str(token_file) in str(info.value)


@pytest.mark.posix_only("chmod(0) makes a file unreadable on POSIX only")
@pytest.mark.skipif(is_root(), reason="root reads any file")
def test_unreadable_token_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("secret", encoding="utf-8")
    token_file.chmod(0)
    with pytest.raises(ConfigError, match="permission denied"):
        resolve_token(token_file, HUB, environ={}, keyring=MemoryKeyring())


def test_environment_before_keyring() -> None:
    ring = MemoryKeyring()
    store_token(HUB, "from-keyring", keyring=ring)
    assert resolve_token(None, HUB, environ={ENV_VAR: " from-env\n"}, keyring=ring) == "from-env"


def test_empty_environment_variable_counts_as_unset() -> None:
    ring = MemoryKeyring()
    store_token(HUB, "from-keyring", keyring=ring)
    assert resolve_token(None, HUB, environ={ENV_VAR: "  "}, keyring=ring) == "from-keyring"


def test_keyring_entry_is_found_under_any_spelling_of_the_url() -> None:
    ring = MemoryKeyring()
    store_token("HTTP://Studio-Hub:8765/", "abc", keyring=ring)
    assert ring.entries == {(SERVICE, HUB): "abc"}
    for spelling in ("http://studio-hub:8765", "ws://STUDIO-HUB:8765/", "studio-hub:8765"):
        assert resolve_token(None, spelling, environ={}, keyring=ring) == "abc"
    with pytest.raises(ConfigError):
        resolve_token(None, "https://studio-hub:8765", environ={}, keyring=ring)


def test_none_found_names_all_three_places() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_token(None, HUB, environ={}, keyring=MemoryKeyring())
    message = str(info.value)
    assert "--token-file" in message
    assert ENV_VAR in message
    assert "keyring" in message
    assert HUB in message


def test_null_keyring_finds_nothing_and_refuses_to_store() -> None:
    ring = NullKeyring("no backend here")
    with pytest.raises(ConfigError, match="no backend here"):
        resolve_token(None, HUB, environ={}, keyring=ring)
    with pytest.raises(KeyringUnavailable, match="--token-file"):
        store_token(HUB, "abc", keyring=ring)
    assert delete_token(HUB, keyring=ring) is False


def test_keyring_backend_errors_are_translated_never_raised_raw() -> None:
    ring = SystemKeyring(BrokenBackend())
    with pytest.raises(ConfigError) as info:
        resolve_token(None, HUB, environ={}, keyring=ring)
    assert "ServiceUnknown" in str(info.value)
    assert ENV_VAR in str(info.value)
    with pytest.raises(KeyringUnavailable, match="keyring is locked"):
        store_token(HUB, "abc", keyring=ring)
    with pytest.raises(KeyringUnavailable, match="keyring is locked"):
        delete_token(HUB, keyring=ring)
    # A working source before the keyring still wins: the broken keyring is never asked.
    assert resolve_token(None, HUB, environ={ENV_VAR: "env"}, keyring=ring) == "env"


def test_store_replace_and_delete() -> None:
    ring = MemoryKeyring()
    store_token(HUB, "one", keyring=ring)
    store_token(HUB, "two", keyring=ring)
    assert resolve_token(None, HUB, environ={}, keyring=ring) == "two"
    assert delete_token(HUB + "/", keyring=ring) is True
    assert delete_token(HUB, keyring=ring) is False
    with pytest.raises(ConfigError, match="is empty"):
        store_token(HUB, "  ", keyring=ring)


def test_default_keyring_is_the_null_one_without_a_backend() -> None:
    import keyring
    import keyring.backends.fail

    ring = default_keyring()
    if isinstance(keyring.get_keyring(), keyring.backends.fail.Keyring):
        assert isinstance(ring, NullKeyring)
        assert ring.get(SERVICE, HUB) is None
        with pytest.raises(KeyringUnavailable, match="no keyring backend"):
            store_token(HUB, "abc", keyring=ring)
    else:  # a desktop with a real keyring: leave its entries alone, just look one up
        assert isinstance(ring, SystemKeyring)
        with contextlib.suppress(KeyringUnavailable):
            ring.get(SERVICE, "http://no-such-hub.invalid")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://Hub.Studio.local:443/", "https://hub.studio.local"),
        ("wss://hub:8443/monitor/", "https://hub:8443/monitor"),
        ("http://[::1]:8765", "http://[::1]:8765"),
        ("127.0.0.1:8765", "http://127.0.0.1:8765"),
    ],
)
def test_normalise_hub_url(url: str, expected: str) -> None:
    assert normalise_hub_url(url) == expected


@pytest.mark.parametrize("url", ["ftp://hub", "http://", "http://hub:99999"])
def test_bad_hub_url(url: str) -> None:
    with pytest.raises(ConfigError):
        normalise_hub_url(url)
