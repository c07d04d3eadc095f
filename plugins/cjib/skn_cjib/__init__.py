"""Reference adapter: a CJIB-style public collector (Wahv fines, criminal-law money sanctions)."""
