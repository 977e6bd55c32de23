"""CineLibre: movie-and-book discovery backend (semantic search and hybrid recommendations)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cinelibre")
except PackageNotFoundError:  # running from a source tree that was never installed (e.g. a Lambda build copy)
    __version__ = "0.0.0+unknown"
