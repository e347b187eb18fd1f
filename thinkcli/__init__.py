"""thinkcli: spend more compute at answer time, and show what it bought.

The library face. Names load on first use, so ``import thinkcli`` (and with it
``think --help``) stays cheap::

    import thinkcli
    result = thinkcli.run("What is 17 * 23?", effort="medium")
    for event in thinkcli.stream("What is 17 * 23?"):
        ...
"""

__version__ = "0.1.0"

# public name -> the module that defines it (imported on first access)
_EXPORTS = {
    "run": "thinkcli.api",
    "stream": "thinkcli.api",
    "load_model": "thinkcli.api",
    "worst_case": "thinkcli.api",
    "register_backend": "thinkcli.api",
    "register_strategy": "thinkcli.api",
    "build_request": "thinkcli.request",
    "Request": "thinkcli.request",
    "Budgets": "thinkcli.request",
    "Result": "thinkcli.engine",
    "Candidate": "thinkcli.strategies.base",
    "StrategySpec": "thinkcli.strategies",
    "Usage": "thinkcli.events",
    "ExitStatus": "thinkcli.errors",
    "ThinkError": "thinkcli.errors",
    "UsageError": "thinkcli.errors",
    "ModelUnavailable": "thinkcli.errors",
    "BackendError": "thinkcli.errors",
    "ConfigError": "thinkcli.errors",
}
__all__ = ["__version__", "events", *_EXPORTS]


def __getattr__(name: str):
    import importlib

    if name == "events":
        return importlib.import_module("thinkcli.events")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'thinkcli' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
