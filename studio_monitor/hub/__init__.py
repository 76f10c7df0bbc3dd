"""The hub: the store (records and per-topic change log), the server, and the sources it runs.

The hub imports nothing of `ui` or `link`.
"""
