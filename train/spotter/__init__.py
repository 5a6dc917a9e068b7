"""Training the learned spotter (SYNTHETIC data only): aligned-face caches of synthetic
scenes (:mod:`train.spotter.data`), the training loop (:mod:`train.spotter.fit`)."""
