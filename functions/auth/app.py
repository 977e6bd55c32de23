"""Lambda entry point of the auth function: the app from the core package behind Mangum."""

from cinelibre.api.auth import create_app
from cinelibre.api.lambda_handler import make_handler

handler = make_handler(create_app())
