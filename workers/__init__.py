"""Celery workers: thin tasks that take a job id and record the job's state in PostGIS."""
