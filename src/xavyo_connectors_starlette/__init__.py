"""Starlette adapter for xavyo-connectors: thin routes over the core functions."""
