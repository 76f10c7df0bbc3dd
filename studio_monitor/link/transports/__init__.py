"""The link's I/O: a WebSocket session (`ws`) and HTTP requests (`http`) to one hub.

They move bytes and translate every library exception into `studio_monitor.errors`; what to
do about an error, and when, is decided by the machine. Only the connection service uses
them; the UI never does.
"""
