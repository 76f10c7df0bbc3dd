"""Which values of a command's arguments are secrets: one rule for the hub and the app.

A destination configured from the app (`destination.add`, `destination.update`, docs/
destinations.md) carries rclone options in `args["rclone"]`: a password, a key, a token...
Only the fields in `RCLONE_PUBLIC_FIELDS` are published in a `destination` record; every
other field may be a secret (an allow-list: an option rclone adds tomorrow is kept secret
until it is named here). The same rule says what the hub's command log and the app's outbox
never write to disk in clear (`redact_args`), and which values are scrubbed from the logs
(`secret_values`, for `logs.register_secret`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

#: Fields of an rclone remote configured from the app that are published (everything else
#: given in `rclone` may be a secret and never leaves the hub, nor reaches a disk in clear
#: but the hub's `destinations.sqlite` and `rclone.conf`).
RCLONE_PUBLIC_FIELDS: Final = frozenset(
    {"type", "url", "vendor", "host", "port", "user", "provider", "region", "endpoint",
     "bucket", "path", "root_folder_id", "shell_type", "location_constraint"}
)  # fmt: skip

#: What a secret value is replaced with where it is written down (command log, outbox).
REDACTED: Final = "<redacted>"

#: Commands whose arguments hold rclone options, and the argument that holds them.
_RCLONE_ARGS: Final = {"destination.add": "rclone", "destination.update": "rclone"}


def is_secret_field(field: str) -> bool:
    """Is this `rclone` option possibly a secret (not one of the published fields)?"""
    return field not in RCLONE_PUBLIC_FIELDS


def _secret_options(name: str, args: Mapping[str, Any]) -> Mapping[str, Any] | None:
    arg = _RCLONE_ARGS.get(name)
    options = args.get(arg) if arg is not None else None
    return options if isinstance(options, Mapping) else None


def secret_values(name: str, args: Mapping[str, Any]) -> list[str]:
    """The secret strings in the arguments of command `name` (not already redacted)."""
    options = _secret_options(name, args)
    if options is None:
        return []
    return [
        value
        for key, value in options.items()
        if is_secret_field(str(key)) and isinstance(value, str) and value and value != REDACTED
    ]


def holds_secrets(name: str, args: Mapping[str, Any]) -> bool:
    """Does any secret field of these arguments hold a value in clear (of any type)?"""
    options = _secret_options(name, args)
    if options is None:
        return False
    return any(is_secret_field(str(k)) and v != REDACTED for k, v in options.items())


def redacted(name: str, args: Mapping[str, Any]) -> bool:
    """Were secrets of these arguments replaced by `REDACTED` (so they cannot be sent)?"""
    options = _secret_options(name, args)
    if options is None:
        return False
    return any(is_secret_field(str(k)) and v == REDACTED for k, v in options.items())


def redact_args(name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments with every secret field's value replaced by `REDACTED` (a copy; the
    arguments themselves when there is nothing to hide)."""
    options = _secret_options(name, args)
    if options is None or not holds_secrets(name, args):
        return dict(args)
    arg = _RCLONE_ARGS[name]
    hidden = {k: (REDACTED if is_secret_field(str(k)) else v) for k, v in options.items()}
    return {**args, arg: hidden}
