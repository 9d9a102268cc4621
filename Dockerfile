# Catalyst Monitor service image: slim Python, non-root, config directory mounted at /config.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY storage ./storage
RUN pip install ".[postgres]" \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin monitor \
    && mkdir -p /config /data && chown monitor /config /data
COPY --chown=monitor watchlist.yaml /config/watchlist.yaml

USER monitor
ENV MONITOR_CONFIG=/config/watchlist.yaml \
    MONITOR_DATABASE_URL=sqlite:////data/monitor.db
VOLUME ["/config", "/data"]
ENTRYPOINT ["monitor"]
CMD ["run"]
