"""The staff console's pages: what each shows (`views`) and how it is drawn (`render`).

Server-rendered HTML from Jinja2 templates in `templates/`, autoescaped; the HTTP side
(cookies, forms, sign-in) is in `functions/console.py`. Never imports azure.functions.
"""
