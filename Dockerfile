# derivbot in a container: `docker build -t derivbot .` then `docker compose up` (compose.yaml)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DERIVBOT_METRICS__HOST=0.0.0.0 DERIVBOT_OPERATOR__HOST=0.0.0.0 \
    DERIVBOT_STATE__DB=/data/derivbot.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY strategies ./strategies
COPY risk ./risk
COPY state ./state
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 derivbot \
    && mkdir -p /data && chown derivbot /data
COPY config.toml /etc/derivbot/config.toml

USER derivbot
WORKDIR /data
# /metrics and the operator page; beyond loopback the page needs DERIVBOT_OPERATOR_TOKEN
EXPOSE 9108 9109
VOLUME ["/data"]
ENTRYPOINT ["derivbot"]
CMD ["run", "--config", "/etc/derivbot/config.toml"]
