"""devhost: runs function_app.py on one machine — HTTP triggers under /api (uvicorn),
Service Bus triggers pumped from the local bus, timer triggers on their NCRONTAB schedules.

    python -m devhost [--port N] [--data-dir DIR]

or, in tests, `Host(...).start()` / `.drain()` / `.stop()`.
"""

from devhost.host import Host
from devhost.index import AppLoadError, HostFunction
from devhost.settings import SettingsFileError

__all__ = ["AppLoadError", "Host", "HostFunction", "SettingsFileError"]
