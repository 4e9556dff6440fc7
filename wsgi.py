"""WSGI entry point for scaled deployment: `gunicorn -c config/gunicorn.py wsgi:app`."""

from welfare.app import create_app

app = create_app()
