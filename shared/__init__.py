"""Thumbnail drop for iModels: all of the function app's logic.

``function_app.py`` is a thin shell over :func:`shared.pipeline.process_blob`; the CLI
(``python -m shared.cli``) drives the very same code locally.
"""
