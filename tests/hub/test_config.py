"""Hub configuration: tokens files, the generated tokens file, the embedded token, config files,
and the `studio-monitor hub` command's answer to a bad one."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio_monitor.cli.main import main
from studio_monitor.errors import ConfigError
from studio_monitor.hub.auth import Authenticator
from studio_monitor.hub.config import (
    TOKEN_ENV,
    HubConfig,
    TokenSpec,
    build_config,
    load_tokens,
)
from tests.support.hub import TEST_TOKENS, write_tokens_file
from tests.support.portable import assert_posix_mode

GOOD_SECRET = "a-long-enough-secret-1234"


def tokens_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tokens.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_a_tokens_file_round_trips(tmp_path: Path) -> None:
    path = write_tokens_file(tmp_path / "t.toml")
    assert load_tokens(path) == list(TEST_TOKENS)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("tokens = [", "not valid TOML"),
        ("", "no tokens"),
        ('[[tokens]]\nname = "a"\nsecret = "short"\nroles = ["viewer"]', "at least 16"),
        (f'[[tokens]]\nname = "a"\nsecret = "{GOOD_SECRET}"\nroles = ["admin"]', "unknown role"),
        (f'[[tokens]]\nname = "a"\nsecret = "{GOOD_SECRET}"\nroles = []', "at least one role"),
        (f'[[tokens]]\nname = "a"\nsecret = "{GOOD_SECRET}"\nroles = "viewer"', "must be a list"),
        (f'[[tokens]]\nsecret = "{GOOD_SECRET}"\nroles = ["viewer"]', "`name`"),
        (
            f'[[tokens]]\nname = "a"\nsecret = "{GOOD_SECRET}"\nroles = ["viewer"]\nrole = 1',
            "unknown field",
        ),
    ],
)
def test_bad_tokens_files_say_what_is_wrong(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        load_tokens(tokens_file(tmp_path, text))
    assert str(tmp_path) in str(info.value)


def test_duplicate_names_or_secrets_are_refused(tmp_path: Path) -> None:
    one = TokenSpec("a", GOOD_SECRET, frozenset({"viewer"}))
    with pytest.raises(ConfigError, match="used twice"):
        HubConfig(
            data_dir=tmp_path, tokens=[one, TokenSpec("a", GOOD_SECRET + "x", frozenset({"agent"}))]
        )
    with pytest.raises(ConfigError, match="same secret"):
        HubConfig(
            data_dir=tmp_path, tokens=[one, TokenSpec("b", GOOD_SECRET, frozenset({"agent"}))]
        )


def test_secrets_never_show_in_reprs() -> None:
    token = TokenSpec("desk", GOOD_SECRET, frozenset({"viewer"}))
    assert GOOD_SECRET not in repr(token)


def test_with_no_tokens_file_one_is_created_private_and_kept(tmp_path: Path) -> None:
    config, notice = build_config(data_dir=tmp_path / "data", port=0, environ={})
    assert notice.created
    assert notice.path == tmp_path / "data" / "tokens.toml"
    assert_posix_mode(notice.path, 0o600)
    (token,) = config.tokens
    assert token.roles == frozenset({"viewer", "operator"})
    again, notice = build_config(data_dir=tmp_path / "data", port=0, environ={})
    assert not notice.created
    assert again.tokens == config.tokens


def test_the_environment_adds_the_embedded_token(tmp_path: Path) -> None:
    path = write_tokens_file(tmp_path / "t.toml")
    secret = "one-time-token-from-the-app-123456"
    config, _ = build_config(data_dir=tmp_path, tokens_file=path, environ={TOKEN_ENV: secret})
    found = Authenticator(config.tokens).identify(f"Bearer {secret}")
    assert found is not None
    assert found[0].name == "embedded"
    assert found[1] == frozenset({"viewer", "operator", "agent"})
    with pytest.raises(ConfigError, match=TOKEN_ENV):
        build_config(data_dir=tmp_path, tokens_file=path, environ={TOKEN_ENV: "short"})


def test_a_config_file_with_sources_and_overrides(tmp_path: Path) -> None:
    write_tokens_file(tmp_path / "tokens.toml")
    config_file = tmp_path / "hub.toml"
    config_file.write_text(
        '[hub]\nport = 9000\nheartbeat_s = 2\ndata_dir = "data"\ntokens = "tokens.toml"\n'
        "[sources.system]\ninterval_s = 5\n"
    )
    config, _ = build_config(config_file=config_file, port=9100, environ={})
    assert config.port == 9100  # the command line wins
    assert config.heartbeat_s == 2.0
    assert config.data_dir == tmp_path / "data"
    assert config.sources == {"system": {"interval_s": 5}}
    config_file.write_text("[hub]\nprot = 1\n")
    with pytest.raises(ConfigError, match="no setting 'prot'"):
        build_config(config_file=config_file, environ={})
    config_file.write_text('[hub]\nport = "eighty"\n')
    with pytest.raises(ConfigError, match="port must be a int"):
        build_config(config_file=config_file, environ={})


def test_tls_needs_both_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="both"):
        HubConfig(data_dir=tmp_path, tokens=list(TEST_TOKENS), tls_cert=tmp_path / "c.pem")


def test_the_hub_command_exits_2_on_a_bad_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["hub", "--data-dir", str(tmp_path), "--tokens", str(tmp_path / "missing.toml")])
    assert code == 2
    err = capsys.readouterr().err
    assert "missing.toml does not exist" in err
    code = main(
        [
            "hub",
            "--data-dir",
            str(tmp_path),
            "--tokens",
            str(write_tokens_file(tmp_path / "t.toml")),
            "--tls-cert",
            str(tmp_path / "nope.pem"),
            "--tls-key",
            str(tmp_path / "nope.key"),
            "--port",
            "0",
        ]
    )
    assert code == 2
    assert "TLS file not found" in capsys.readouterr().err
