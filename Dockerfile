# reasonbot: one image for `reasonbot run` (web) and `reasonbot worker`.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
COPY app ./app
# The code stays root-owned and read-only to the bot; its data lives in /data, the one
# directory it may write (the default SQLite database; mount a volume there to keep it).
RUN pip install . \
    && useradd --create-home --uid 10001 reasonbot \
    && mkdir /data && chown reasonbot:reasonbot /data
USER reasonbot
ENV PORT=3000 LOG_FORMAT=json DATABASE_URL=sqlite+aiosqlite:////data/reasonbot.db
VOLUME /data
EXPOSE 3000
# /healthz answers on $PORT in every mode (Slack's server, or the ops server of
# Discord-only and worker processes) and checks the database.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os,urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"3000\")}/healthz', timeout=4)"
# With PostgreSQL, migrate on release (`reasonbot db upgrade`); SQLite migrates on start.
CMD ["reasonbot", "run"]
