"""Recommender training (EASE, or item-kNN past the memory cap), run by an EventBridge schedule."""

from cinelibre.recommend.train_handler import make_handler

handler = make_handler()
