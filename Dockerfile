# One image for every Jobtower process; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . .
# With the tracing extra, so JOBTOWER_TRACING=1 and an OTLP endpoint are all a deployment sets.
RUN pip install ".[tracing]" \
    && useradd --system --create-home --uid 10001 jobtower

USER jobtower
# Only used when DATABASE_URL / REDIS_URL are unset (the embedded default).
ENV JOBTOWER_DATA_DIR=/home/jobtower/data
EXPOSE 8000
CMD ["jobtower", "serve", "--host", "0.0.0.0", "--port", "8000"]
