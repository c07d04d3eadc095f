"""The message XSD used from several threads at once, as the daemon's creditor workers and
the receive endpoint do: every refusal names its own message's faults, never another
thread's (one schema shared by the threads mixed their errors, and compiling it in two
threads at once quarantined good messages in the daemon)."""

from __future__ import annotations

import threading

from skn_connector.messages import message_from_json
from skn_connector.wire.soap import DecodeError, decode_message, encode_message

from .factories import saldoverzoek


def test_each_refusal_names_its_own_messages_faults_while_others_validate() -> None:
    good = encode_message(message_from_json(saldoverzoek()))
    # each thread its own fault, in an element of its own
    faults = {
        "Huisnummer": good.replace(b"<Huisnummer>12<", b"<Huisnummer>twaalf<"),
        "Geboortedatum": good.replace(b">1980-02-29<", b">gisteren<"),
        "Versie": good.replace(b"<Versie>2.0<", b"<Versie>twee<"),
        "Geslacht": good.replace(b"<Geslacht>V<", b"<Geslacht>Q<"),
    }
    assert all(payload != good for payload in faults.values())
    start = threading.Barrier(len(faults))
    wrong: list[str] = []

    def refuse(element: str, payload: bytes) -> None:
        start.wait()
        for _ in range(150):
            try:
                decode_message(payload)
            except DecodeError as exc:
                reason = "; ".join(exc.errors)
                if element not in reason or any(
                    other in reason for other in faults if other != element
                ):
                    wrong.append(f"{element}: {reason}")
            else:
                wrong.append(f"{element}: accepted")

    threads = [threading.Thread(target=refuse, args=item) for item in faults.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == [], wrong[:5]
