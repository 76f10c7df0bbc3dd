"""Verified event backups: the engine (copy, fsync, rename, read back), its SQLite manifest,
and the `backup` source that runs jobs for the hub and publishes `backup/<job_id>` records."""

from studio_monitor.hub.sources.backup.source import BackupSettings, BackupSource, from_config

__all__ = ["BackupSettings", "BackupSource", "from_config"]
