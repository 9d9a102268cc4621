# Catalyst Monitor service image: slim Python, the package in a virtualenv, a non-root user.
# The watchlist is read from the mounted config DIRECTORY (/config), so edits and the
# commands that rewrite watchlist.yaml (monitor feeds import) reach the running daemon.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY storage ./storage
RUN python -m venv /opt/monitor && /opt/monitor/bin/pip install ".[postgres,fulltext]"

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/monitor/bin:$PATH
COPY --from=build /opt/monitor /opt/monitor
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin monitor \
    && mkdir -p /config /data && chown monitor /config /data
COPY --chown=monitor watchlist.yaml /opt/monitor/watchlist.example.yaml
USER 10001
ENV MONITOR_CONFIG=/config/watchlist.yaml \
    MONITOR_DATABASE_URL=sqlite:////data/monitor.db \
    MONITOR_HTTP=0.0.0.0:8787
EXPOSE 8787
VOLUME ["/config", "/data"]
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["monitor", "healthcheck"]
ENTRYPOINT ["monitor"]
CMD ["run"]
