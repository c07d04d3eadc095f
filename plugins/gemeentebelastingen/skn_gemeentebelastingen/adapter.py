"""Placeholder; the adapter is being written."""
from skn_connector.adapters.api import BaseAdapter


class GemeentebelastingenAdapter(BaseAdapter):
    name = "gemeentebelastingen"
