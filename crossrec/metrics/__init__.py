"""Ranking metrics and the held-out evaluation of any recommender (pure numpy/torch)."""
