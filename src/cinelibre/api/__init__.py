"""The HTTP API: one FastAPI app per Lambda function (auth, search, recommend), built by `create_app()` in
`cinelibre.api.auth`, `.search` and `.recommend`, plus `create_local_app()` in `.local` for the dev server.

Nothing is imported here, so that importing the auth or recommend app never pulls in the search app and,
through it, the embedding model.
"""
