"""keras_pn data pipeline: corpora, windows, embeddings, clusters, resampled streams."""
