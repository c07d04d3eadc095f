"""Bytes <-> messages: the SOAP codec, the safe XML parser, the XSDs, the portal CSV."""
