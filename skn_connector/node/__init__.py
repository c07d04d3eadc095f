"""Talking to the SKN node: the mutual-TLS client, the simulated node and its development PKI.

- ``client``: ``NodeClient`` lists, fetches, confirms and sends messages over SOAP 1.1 and
  mutual TLS, mapping every failure to one ``NodeError`` with one clear sentence.
- ``simulator``: ``Simulator``, a faithful fake node (the SOAP service plus an admin API on
  loopback) for development, demos and tests.
- ``certs``: a development CA and certificates for the simulator and the connector.
"""
