"""Lambda entry point of the recommend function: the app from the core package behind Mangum."""

from cinelibre.api.lambda_handler import make_handler
from cinelibre.api.recommend import create_app

handler = make_handler(create_app())
