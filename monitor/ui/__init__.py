"""The analyst's web pages: catalysts board, stories, feeds, rule editor, digests.

Server-rendered Jinja2 templates on the Starlette app that already serves health and
metrics (``monitor.web``), with htmx (vendored, no build step) for the few live parts.
Owns the pages and their routes; reads and writes only through the one ``Store`` and the
watchlist file (``watchlist_edit``), both handed in through ``UIContext``.

Layout: ``context`` (what every page needs), ``auth`` (the token gate), ``pages``
(templates and the page helper), then one module per page group, each exposing
``routes(ctx) -> list[BaseRoute]``; ``app.ui_routes`` collects them.
"""
