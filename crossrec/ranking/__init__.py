"""The batch recommender interface and the exact top-N kernel it ranks with."""
