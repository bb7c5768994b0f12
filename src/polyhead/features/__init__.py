"""Frozen-backbone features: extraction, the on-disk feature cache, boundary caching for
partly frozen backbones, and external linear classifiers (`strategy: frozen`)."""

from polyhead.features.external import LinearClassifier, fit_classifier
from polyhead.features.source import BackboneCache, backbone_cache
from polyhead.features.store import FeatureStore, cache_root

__all__ = [
    "BackboneCache",
    "FeatureStore",
    "LinearClassifier",
    "backbone_cache",
    "cache_root",
    "fit_classifier",
]
