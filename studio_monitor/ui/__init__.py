"""The desktop app: main window, docks, models, status bar, tray, notifications and dialogs.

It talks only to the `ConnectionService` (`studio_monitor.link.service`): records come in
through its signals, commands go out through `send_command`. Nothing here opens a socket.
"""
