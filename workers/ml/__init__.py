"""The GPU side: the only code in MineLabel that imports torch (and the models built on it), loaded lazily
by the tasks that need it, once per worker process."""
