"""crossrec: cross-domain recommendation by transfer learning, as a nightly batch pipeline."""

__version__ = "0.1.0"
