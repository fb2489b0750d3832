# reasonbot: one image for `reasonbot run` (web) and `reasonbot worker`.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
COPY app ./app
RUN pip install . && useradd --create-home reasonbot
USER reasonbot
ENV PORT=3000 LOG_FORMAT=json
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import os,urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"3000\")}/healthz')"
# Migrate on release (`reasonbot db upgrade`), then:
CMD ["reasonbot", "run"]
