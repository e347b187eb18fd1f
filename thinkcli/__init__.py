"""thinkcli: spend more compute at answer time, and show what it bought."""

__version__ = "0.1.0"
