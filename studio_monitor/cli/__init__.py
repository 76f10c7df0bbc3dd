"""The `studio-monitor` command and its subcommands (top layer: may import anything)."""
