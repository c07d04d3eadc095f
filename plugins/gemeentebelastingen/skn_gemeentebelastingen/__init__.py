"""Reference adapter: municipal taxes (gemeentebelastingen)."""
