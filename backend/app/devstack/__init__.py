"""Local PostGIS and Redis servers in a folder of the project, for `make run` and the tests."""
