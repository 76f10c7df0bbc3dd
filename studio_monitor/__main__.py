"""`python -m studio_monitor` is the same as the `studio-monitor` command."""

from studio_monitor.cli.main import main

raise SystemExit(main())
