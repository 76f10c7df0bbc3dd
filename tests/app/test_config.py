"""The app's settings file: round trip, defaults, and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio_monitor.app.config import (
    AppConfig,
    AppPaths,
    HubProfile,
    load_config,
    save_config,
)
from studio_monitor.errors import ConfigError


def test_missing_file_is_the_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path / "none.toml")
    assert config == AppConfig()
    assert config.hub.hub_url is None  # embedded hub


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    config = AppConfig(
        profile="staging",
        notify_alerts=False,
        notify_min_severity="critical",
        start_at_login=True,
        speed=2.5,
        language="id",
    ).with_hub(
        HubProfile(
            hub_url="https://hub.studio.lan:8765",
            ca_file="/etc/studio/ca.pem",
            hub_replicas=("https://hub2.studio.lan:8765",),
        )
    )
    save_config(config, path)
    again = load_config(path)
    assert again == config
    assert again.hub.hub_url == "https://hub.studio.lan:8765"
    assert "token" not in path.read_text()
    assert not list(path.parent.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("profile = 'test'", "`profile` must be one of dev, staging, production"),
        ("[app]\nspeed = 10", "`speed` must be between 0.25 and 4.0"),
        ("[app]\nspeed = 'fast'", "`speed` must be a float"),
        ("[app]\nstart_at_login = 1", "`start_at_login` must be a bool"),
        ("[app]\nlanguage = 'fr'", "`language` must be one of system, en, id"),
        ("[notifications]\nmin_severity = 'loud'", "`min_severity` must be one of info"),
        ("[profiles.qa]\nhub_url = 'x'", "unknown profile"),
        ("profiles = 3", "`profiles` must be a table"),
        ("[profiles.dev]\nhub_replicas = [1]", "`hub_replicas` must be a list of hub URLs"),
        ("profile = ", "is not valid TOML"),
    ],
)
def test_bad_values_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_paths_under_one_data_dir(tmp_path: Path) -> None:
    paths = AppPaths.default(tmp_path)
    assert paths.config_file == tmp_path / "config.toml"
    assert paths.hub_data_dir == tmp_path / "hub"
    assert paths.state_dir.parent == tmp_path
    default = AppPaths.default()
    assert default.config_file.name == "config.toml"
