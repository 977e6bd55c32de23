"""Catalog ingest from TMDB and Google Books, run by an EventBridge schedule."""

from cinelibre.ingest.handler import make_handler

handler = make_handler()
