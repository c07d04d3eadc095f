"""Reference adapter: municipal werk en inkomen (Participatiewet, IOAW/IOAZ, Bbz)."""
