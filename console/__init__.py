"""The web console and the JSON API: routes and templates over the services the CLI uses.

No rule lives here. A route reads the request, borrows the store's services
(`console.backend.Workspace`), authenticates the caller, and asks the same services as the
command line, with the logged-in staff member as the actor; duties are checked on the
aggregates and in `ledger.logins`, refusals come back as HTTP statuses (`console.errors`).

- `console.app`: the ASGI application of the console (``/``) and the API (``/api/v1/``).
- `console.auth`: sessions from cookies or bearer tokens, CSRF tokens, cookie flags.
- `console.api`: the JSON API; `console.pages`: the server-rendered pages (Jinja2).
- `console.security`: the security headers of every answer.
"""
