"""The console: web pages in Dutch for the functional administrators, on the HTTP face.

Rendered on the server (Jinja2, autoescaped: every value from a message is hostile input),
no JavaScript; behind a login with signed, HttpOnly, SameSite=Strict session cookies, a CSRF
token on every form, security headers on every response. It calls the operations layer only:
each read and each person's action is one call there, naming the logged-in person.
"""

from .app import Console

__all__ = ["Console"]
