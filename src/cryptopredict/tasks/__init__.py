"""Background work: one schedule table, run by Celery (with Redis) or in-process (without).

How the pieces fit:

- ``schedule.py``: ``SCHEDULE``, the one table of task kinds (name, job, period, limits, lock).
  Celery beat and the embedded scheduler are both built from it; adding a task is one line.
- ``jobs.py``: the work itself, plain functions ``job(context, **kwargs) -> dict`` that call
  the domain services (market-data sync, price retention); ``training_jobs.py`` the
  forecasting ones (a retraining round, one coin's training, in a child process of the
  server through ``isolation.py``).
- ``execution.py``: ``execute(...)``, the one path every run takes, whoever triggers it: take
  the task kind's lock (per coin where the spec says so; Redis with the task id as owner
  token and an expiry, else in-process), record a ``TaskRun``, call the job, record the
  outcome. Temporary failures are retried with jittered exponential backoff.
- ``celery_app.py`` / ``embedded.py``: the two runners behind one ``TaskRunner`` interface
  (``runner.py``) that the task-management API (``router.py`` -> ``service.py``) talks to.
"""
