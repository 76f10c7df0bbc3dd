"""The desktop app's non-visual parts: its settings (`config`) and its embedded hub (`embedded_hub`).

They sit beside `ui/`, at the top of the dependency graph: `config` is plain Python (the
`setup` command may use it), `embedded_hub` runs `studio-monitor hub` as a child process with
Qt's `QProcess` (QtCore only, no widgets), so the GUI and the `--self-test` share it.
"""
