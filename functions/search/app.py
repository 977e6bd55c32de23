"""Lambda entry point of the search function: the app from the core package behind Mangum."""

from cinelibre.api.lambda_handler import make_handler
from cinelibre.api.search import create_app

handler = make_handler(create_app())
