"""The HTTP side of an agent: its server thread, the login, the JSON API (``/api/``).

Importing this package imports nothing heavy: ``web.auth`` (tokens) is used by the agent's
desk, which must not pull in FastAPI; the server and the app are imported when HTTP is on.
"""
