"""The desktop app: main window, docks, models, status bar, tray, notifications and dialogs.

It talks only to the `ConnectionService` (`studio_monitor.link.service`) and reads the values
of `studio_monitor.link.status`: the service is built with `from_settings`, records come in
through its signals, commands go out through `send_command`, and the connection-test dialog
runs `test_connection`. Nothing here opens a socket (tests/test_architecture.py checks the
imports).
"""
