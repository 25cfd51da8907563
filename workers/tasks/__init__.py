"""Celery tasks: each takes a job id and hands the work to logic that lives outside the task."""
