"""Batch top-N: the kernel, the model-backed recommender, the Parquet writer and atomic publish."""
