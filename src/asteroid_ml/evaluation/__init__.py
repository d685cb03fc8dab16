"""Evaluation stage: metrics, scoring of every model, the real-catalog application.

- :mod:`.metrics`: pure metric functions (the one home of every reported number);
- :mod:`.scoring`: every model on the test split, the summary table;
- :mod:`.real_catalog`: the impactor classifier on the real NEO catalog.
"""
