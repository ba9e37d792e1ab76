"""keras_pn data: corpora, preparation (windows, embeddings, clusters, shards), resampled streams."""
