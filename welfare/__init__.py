"""Geumcheon Welfare: the nouns of the domain, the crypto core, the HTTP API and the CLI.

Importing this package builds nothing: no app, no engine, no environment read.
"""
