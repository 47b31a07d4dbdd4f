"""The whole method end to end: diagnose, verify, tune, evaluate, then one HTML report."""
