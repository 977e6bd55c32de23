"""Catalog ingest: TMDB and Google Books sources, the pipeline and the Lambda handler factory."""
